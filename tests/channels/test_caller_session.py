"""A caller session over its life: joining by dialling in, outliving its page, ending with
calling hours or a grace period, following campaign and script edits, and surviving a
restart of the engine."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import aiohttp
from sqlalchemy import select

from realtime import app_keys
from realtime.store.models import CallAttempt, DialerMode, Household, HouseholdStatus

from .conftest import CallerClient, start_product
from .floor import PERSON, add_caller, add_campaign, phone, seed_account


def api_auth(floor) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(floor.api_key, floor.api_auth)}


async def test_a_caller_joins_by_dialling_in_with_the_session_pin(product, floor, callers, far_end):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    pin = caller.events[0][1]["dial_in"]["pin"]
    ack = await caller.ok("start", {"dial_in": True})
    assert ack["dial_in"] == {"number": "+12025550123", "pin": pin}
    await caller.state("connecting", reason="waiting_for_dial_in")
    channel = (await far_end.dial_in())["id"]
    await far_end.dtmf(channel, pin)
    await caller.next("lead_presented")
    conference = next(b for b in await far_end.bridges() if b["id"] == f"conf-{caller.events[0][1]['session_id']}")
    assert channel in conference["channels"]


async def test_a_closed_page_leaves_the_session_until_the_grace_period_ends(product, floor, callers):
    engine = product.app[app_keys.CALLFLOW]
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    session_id = caller.events[0][1]["session_id"]
    await caller.sio.disconnect()
    await engine.expire()
    assert not engine.sessions[session_id].ended  # a closed tab does not end it
    await caller.connect(last_seq=caller.last_seq)  # the page comes back to the same session
    await caller.ok("start", {"dial_in": True})
    await caller.sio.disconnect()

    engine.options = dataclasses.replace(engine.options, grace_seconds=0.0)
    await engine.expire()
    assert engine.sessions[session_id].end_reason == "expired"
    await caller.connect(last_seq=caller.last_seq)
    assert (await caller.next("session_started"))["session_id"] != session_id  # a new session


async def test_the_end_of_calling_hours_ends_idle_sessions(product, floor, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.next("lead_presented")
    now = dt.datetime.now(dt.timezone.utc)
    closed = {"calling_hours_start": (now + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0),
              "calling_hours_end": (now + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)}
    async with aiohttp.ClientSession() as http:
        async with http.patch(f"{product.url}/v1/campaigns/{campaign}",
                              json={k: v.strftime("%H:%M") for k, v in closed.items()},
                              headers=api_auth(floor)) as resp:
            assert resp.status == 200, await resp.text()
    hours = await caller.next("calling_hours", open=False)
    assert hours["closes_at"] is None and hours["opens_at"] > now.isoformat()[:16]
    assert (await caller.next("session_ended"))["reason"] == "calling_hours"


async def test_a_script_edit_reaches_live_callers(product, floor, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    async with aiohttp.ClientSession() as http:
        async with http.patch(f"{product.url}/v1/scripts/{floor.script.id}", headers=api_auth(floor),
                              json={"name": "Survey, revised", "texts": [{"content": "New opening line"}]}) as resp:
            assert resp.status == 200, await resp.text()
    changed = await caller.next("script_changed")
    assert changed["script"]["name"] == "Survey, revised"
    assert [text["content"] for text in changed["script"]["texts"]] == ["New opening line"]


async def test_a_reassigned_caller_moves_after_the_call(product, floor, callers):
    first = await add_campaign(product.store, floor, DialerMode.POWER, [phone(PERSON)], name="first")
    second = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)], name="second")
    _, username = await add_caller(product.store, floor, first)
    caller = await callers(username).open()
    await caller.ok("start")
    connected = await caller.next("call_connected")
    client = product.app[app_keys.CALLFLOW_CLIENT]
    ack = await client.request("reassign", account_id=floor.account_id, session_id=connected["session_id"],
                               payload={"campaign_id": second})
    assert ack == {"ok": True, "campaign_id": second, "effective": "after_call"}
    await caller.ok("hangup")
    await caller.state("wrap_up")
    await caller.ok("submit", {"call_id": connected["call_id"], "lead_id": connected["household"]["leads"][0]["id"]})
    changed = await caller.next("campaign_changed")
    assert changed["campaign"] == {"id": second, "name": "second", "dialer_mode": "preview",
                                   "can_drop_voicemail": False}
    await caller.state("previewing")
    # Another account's campaign is no campaign at all.
    other = await seed_account(product.store, "Other account")
    foreign = await add_campaign(product.store, other, DialerMode.PREVIEW, [])
    ack = await client.request("reassign", account_id=floor.account_id, session_id=connected["session_id"],
                               payload={"campaign_id": foreign})
    assert ack["error"]["id"] == "no-such-campaign"


async def test_a_restarted_engine_takes_back_a_call_and_the_caller_carries_on(tmp_path, simulator, floor, product,
                                                                              callers, far_end):
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [phone(PERSON), phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    connected = await caller.next("call_connected")
    await caller.state("on_call")
    await caller.sio.disconnect()
    await product.close()  # the process stops; the call stays up in Asterisk

    restarted = await start_product(tmp_path, simulator)
    try:
        again = callers(username, url=restarted.url)
        again.cookie = caller.cookie
        await again.connect(last_seq=caller.last_seq)
        # The memory event log went with the old process: the page gets a snapshot.
        snapshot = await again.next("snapshot")
        assert snapshot["state"] == "on_call" and snapshot["call"]["call_id"] == connected["call_id"]
        assert snapshot["household"]["id"] == connected["household"]["id"]
        await again.ok("hangup")
        await again.state("wrap_up")
        await again.ok("submit", {"call_id": connected["call_id"],
                                  "lead_id": connected["household"]["leads"][0]["id"]})
        async with restarted.store.sessions() as session:
            attempt = await session.scalar(select(CallAttempt).where(
                CallAttempt.channel_id == f"lead-{connected['call_id']}"))
        assert attempt.wrapped_up_at is not None
        await again.next("call_connected")  # and on to the next lead
    finally:
        await again.close()
        await restarted.close()


async def test_signing_out_ends_the_session_and_closes_its_sockets(product, floor, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.next("lead_presented")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{product.url}/logout", headers={"Cookie": caller.cookie, "Origin": product.url,
                                                               "Content-Type": "application/json"}) as resp:
            assert resp.status == 200
    assert (await caller.next("session_ended"))["reason"] == "signed_out"
    await asyncio.wait_for(caller.sio.wait(), 5)  # the server closed the socket
    assert not caller.sio.connected


async def test_the_trunks_capacity_reaches_every_campaigns_dialer(tmp_path, simulator):
    running = await start_product(tmp_path, simulator, trunk_lines=2)
    try:
        floor = await seed_account(running.store)
        campaign = await add_campaign(running.store, floor, DialerMode.PREDICTIVE, [phone(PERSON)])
        _, username = await add_caller(running.store, floor, campaign)
        caller = CallerClient(running.url, username)
        await caller.open()
        assert running.app[app_keys.CALLFLOW].dialer(campaign).trunk_lines == 2
        await caller.close()
    finally:
        await running.close()


async def test_callers_connecting_at_once_share_one_dialer(product, floor, callers):
    import asyncio as aio

    campaign = await add_campaign(product.store, floor, DialerMode.PREDICTIVE, [phone(PERSON)])
    names = [(await add_caller(product.store, floor, campaign))[1] for _ in range(8)]
    made = []
    engine = product.app[app_keys.CALLFLOW]
    original = engine._ensure_dialer.__func__

    async def counting(self, campaign_id):
        dialer = await original(self, campaign_id)
        made.append(id(dialer))
        return dialer

    engine._ensure_dialer = counting.__get__(engine)
    clients = [callers(name) for name in names]
    for client in clients:
        await client.sign_in()
    await aio.gather(*(client.connect() for client in clients))
    await aio.gather(*(client.next("session_started") for client in clients))
    assert len(set(made)) == 1


async def test_signing_out_mid_call_puts_the_call_on_record_and_its_household_back(product, floor, callers):
    number = phone(PERSON)
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [number, phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.next("call_connected")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{product.url}/logout", headers={"Cookie": caller.cookie, "Origin": product.url,
                                                               "Content-Type": "application/json"}) as resp:
            assert resp.status == 200
    assert (await caller.next("session_ended"))["reason"] == "signed_out"
    async with product.store.sessions() as session:
        household = await session.scalar(select(Household).where(Household.phone == number,
                                                                 Household.campaign_id == campaign))
    # No results will come: the lead stays open and the household is dialled again later.
    assert household.status is HouseholdStatus.RETRY and household.dialable_at is not None
