"""/caller answers anything a client sends with an ack or a refusal naming why, changes
nothing on bad input, and keeps the session working."""
from __future__ import annotations

import asyncio

import pytest
import socketio
from sqlalchemy import update

from realtime import app_keys
from realtime.store.models import Caller, DialerMode

from .conftest import TIMEOUT, CallerClient
from .floor import PERSON, add_caller, add_campaign, phone


async def preview_caller(product, floor, callers) -> CallerClient:
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON), phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    return await callers(username).open()


async def refused(client: CallerClient, **connect) -> dict:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(**connect)
    assert client.errors, "no connect_error came"
    return client.errors[-1]


async def test_a_socket_without_a_sign_in_is_refused(product, callers):
    error = await refused(callers("nobody"))
    assert error["id"] == "not-signed-in" and error["message"]
    assert error["data"] == {"id": "not-signed-in", "message": error["message"]}


async def test_a_forged_cookie_is_refused(product, callers):
    client = callers("nobody")
    client.cookie = "realtime_session=eyJpZCI6MX0.forged"
    assert (await refused(client))["id"] == "not-signed-in"


async def test_a_page_of_another_site_is_refused(product, floor, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [])
    _, username = await add_caller(product.store, floor, campaign)
    client = callers(username)
    await client.sign_in()
    error = await refused(client, headers={"Origin": "https://evil.example"})
    assert error["id"] == "bad-origin"
    await client.connect(headers={"Origin": product.url})  # the site's own page
    await client.next("session_started")


async def test_a_deactivated_caller_or_one_without_a_campaign_is_refused(product, floor, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [])
    caller_id, username = await add_caller(product.store, floor, campaign)
    client = callers(username)
    await client.sign_in()
    async with product.store.transaction() as session:
        await session.execute(update(Caller).where(Caller.id == caller_id).values(campaign_id=None))
    assert (await refused(client))["id"] == "no-campaign"
    async with product.store.transaction() as session:
        await session.execute(update(Caller).where(Caller.id == caller_id).values(active=False))
    assert (await refused(client))["id"] == "session-ended"  # deactivation ends sign-ins


async def test_a_supervisor_cannot_open_the_caller_app(product, floor, callers):
    from realtime.store.models import User, UserRole
    from realtime.store.passwords import hash_password

    from .floor import PASSWORD
    async with product.store.transaction() as session:
        session.add(User(account_id=floor.account_id, email="sup@floor.example", role=UserRole.SUPERVISOR,
                         password_hash=hash_password(PASSWORD)))
    client = callers("sup@floor.example")
    await client.sign_in()
    assert (await refused(client))["id"] == "not-a-caller"


async def test_wrong_payloads_and_unknown_events_get_error_acks_and_change_nothing(product, floor, callers):
    caller = await preview_caller(product, floor, callers)
    cases = [
        ("start", {"phone": 12}, "invalid-payload"),
        ("start", {"dial_in": "yes"}, "invalid-payload"),
        ("start", {"surprise": True}, "invalid-payload"),
        ("start", ["a", "list"], "invalid-payload"),
        ("start", "text", "invalid-payload"),
        ("dial", {}, "not-previewing"),
        ("hangup", {}, "not-on-call"),
        ("submit", {"call_id": "x", "lead_id": 1}, "not-in-wrap-up"),
        ("kick", {"party": "caller"}, "no-transfer"),
        ("launch_rockets", {}, "unknown-event"),
        ("resync", {"last_seq": -1}, "invalid-payload"),
        ("resync", {"last_seq": "1"}, "invalid-payload"),
        ("start", {"phone": "\ud800\x00"}, "invalid-phone-number"),
        ("start", {"phone": "not a number"}, "invalid-phone-number"),
    ]
    for command, payload, error_id in cases:
        ack = await caller.call(command, payload)
        assert ack == {"ok": False, "error": {"id": error_id, "message": ack["error"]["message"]}}, (command, ack)
    # Nothing happened to the session: it is still ready and starts normally.
    assert caller.names() == ["session_started", "calling_hours"]
    await caller.ok("start")
    await caller.next("lead_presented")


async def test_two_arguments_or_a_huge_payload_are_refused(product, floor, callers):
    caller = await preview_caller(product, floor, callers)
    ack = await caller.sio.call("start", ({}, {}), namespace="/caller", timeout=TIMEOUT)
    assert ack["ok"] is False
    ack = await caller.call("start", {"phone": "1" * 300_000})
    assert ack["error"]["id"] == "payload-too-large"
    await caller.ok("start")


async def test_a_flood_of_commands_is_rate_limited_and_the_session_survives(product, floor, callers):
    caller = await preview_caller(product, floor, callers)
    acks = await asyncio.gather(*(caller.call("hangup", {}) for _ in range(80)))
    errors = {ack["error"]["id"] for ack in acks}
    assert errors == {"not-on-call", "rate-limited"}
    await asyncio.sleep(0.5)  # the bucket refills with time, which is what is tested here
    await caller.ok("start")
    await caller.next("lead_presented")


async def test_a_typed_phone_must_be_a_real_unblocked_number(product, floor, callers):
    from realtime.store.models import BlockedNumber

    caller = await preview_caller(product, floor, callers)
    async with product.store.transaction() as session:
        session.add(BlockedNumber(account_id=floor.account_id, phone="+12025550130"))
    assert (await caller.call("start", {"phone": "+1 202 555 0130"}))["error"]["id"] == "number-blocked"
    assert (await caller.call("start", {"phone": "12"}))["error"]["id"] == "invalid-phone-number"
    await caller.ok("start", {"phone": "(202) 555-0131"})
    await caller.state("connecting", reason="calling_your_phone")
    await caller.next("lead_presented")


async def test_commands_reach_only_the_callers_own_session(product, floor, callers):
    first = await preview_caller(product, floor, callers)
    second = await preview_caller(product, floor, callers)
    # The session a command acts on is the socket's, whatever the payload names.
    ack = await second.call("stop", {"session_id": first.events[0][1]["session_id"]})
    assert ack["error"]["id"] == "invalid-payload"
    await first.ok("start")
    await first.next("lead_presented")
    assert "session_ended" not in first.names()


async def test_typed_phones_are_limited_per_caller(product, floor, callers):
    caller = await preview_caller(product, floor, callers)
    for n in range(10):
        ack = await caller.call("start", {"phone": f"+1202555{n:02d}12", "dial_in": True})
        assert ack["error"]["id"] == "invalid-payload"  # both at once: refused before counting
    from realtime.callflow.engine import TYPED_PHONES_PER_HOUR
    engine = product.app[app_keys.CALLFLOW]
    session = next(iter(engine.sessions.values()))
    for n in range(TYPED_PHONES_PER_HOUR):
        await engine.typed_phone_endpoint(session, f"+1202555{n:02d}12")
    ack = await caller.call("start", {"phone": "+12025559912"})
    assert ack["error"]["id"] == "rate-limited"


async def test_the_engine_refuses_a_session_of_another_account(product, floor, callers):
    caller = await preview_caller(product, floor, callers)
    session_id = caller.events[0][1]["session_id"]
    client = product.app[app_keys.CALLFLOW_CLIENT]
    for account_id, caller_id in ((floor.account_id + 1000, None), (floor.account_id, 999_999)):
        ack = await client.request("stop", account_id=account_id, session_id=session_id, caller_id=caller_id)
        assert ack["error"]["id"] == "no-such-session"
    ack = await client.request("stop", account_id=floor.account_id, session_id=10**9)
    assert ack["error"]["id"] == "no-such-session"
    assert "session_ended" not in caller.names()
