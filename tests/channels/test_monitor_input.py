"""/monitor answers anything a console sends with an ack or a refusal naming why, lets in
only the account's admins and supervisors, and closes when their sign-in ends."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
import socketio
from sqlalchemy import select

from realtime.store.models import DialerMode, SupervisorAction, UserRole

from .conftest import TIMEOUT, SupervisorClient
from .floor import add_caller, add_campaign, add_user
from .test_monitor import on_call, wait_for


async def refused(client: SupervisorClient, **connect) -> dict:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(**connect)
    assert client.errors, "no connect_error came"
    return client.errors[-1]


async def test_only_signed_in_admins_and_supervisors_of_this_site_get_the_floor(product, floor, supervisors):
    assert (await refused(supervisors("nobody@floor.example")))["id"] == "not-signed-in"
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [])
    _, username = await add_caller(product.store, floor, campaign)
    caller = supervisors(username)
    await caller.sign_in()
    assert (await refused(caller))["id"] == "not-a-supervisor"
    _, email = await add_user(product.store, floor)
    console = supervisors(email)
    await console.sign_in()
    assert (await refused(console, headers={"Origin": "https://evil.example"}))["id"] == "bad-origin"
    await console.connect(headers={"Origin": product.url})
    assert (await console.next("floor"))["supervisor"]["role"] == "supervisor"
    _, admin_email = await add_user(product.store, floor, UserRole.ADMIN)
    admin = await supervisors(admin_email).open()
    assert admin.latest("floor")["supervisor"]["role"] == "admin"


async def test_any_input_gets_an_error_ack_and_changes_nothing(product, floor, callers, supervisors):
    _, _, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    _, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    cases = [
        ("monitor", {"session_id": session_id, "mode": "\ud800\x00"}, "invalid-payload"),
        ("monitor", {"session_id": True, "mode": "listen"}, "invalid-payload"),
        ("monitor", {"session_id": 2**70, "mode": "listen"}, "invalid-payload"),
        ("monitor", ["a", "list"], "invalid-payload"),
        ("kick", "text", "invalid-payload"),
        ("kick", {"session_id": session_id, "\x00": 1}, "invalid-payload"),
        ("reassign", {"session_id": session_id, "campaign_id": -3}, "invalid-payload"),
        ("set_recording", {"enabled": "yes"}, "invalid-payload"),
        ("stop_monitoring", {"session_id": session_id}, "invalid-payload"),
        ("dial_in", {"pin": "1234567"}, "invalid-payload"),
        ("launch_rockets", {}, "unknown-event"),
        ("resync", {"last_seq": -1}, "invalid-payload"),
        ("resync", {"last_seq": 1, "extra": 2}, "invalid-payload"),
        ("kick", {"session_id": session_id + 1000}, "no-such-session"),
    ]
    for command, payload, error_id in cases:
        ack = await console.call(command, payload)
        assert ack == {"ok": False, "error": {"id": error_id, "message": ack["error"]["message"]}}, (command, ack)
    ack = await console.sio.call("kick", ({}, {}), namespace="/monitor", timeout=TIMEOUT)
    assert ack["error"]["id"] == "invalid-payload"
    assert (await console.call("kick", {"session_id": "1" * 20_000}))["error"]["id"] == "payload-too-large"
    # The caller talks on, and the console still works.
    assert caller.events[-1] == ("state_changed", caller.events[-1][1]) and caller.events[-1][1]["state"] == "on_call"
    await console.until(lambda: console.sessions.get(session_id, {}).get("state") == "on_call", "the call")
    await console.ok("monitor", {"session_id": session_id, "mode": "listen"})
    async with product.store.sessions() as db:
        logged = list(await db.scalars(select(SupervisorAction.action).order_by(SupervisorAction.id)))
    assert logged.count("monitor") == 4 and "resync" not in logged  # three refusals and the listen


async def test_a_flood_of_commands_is_rate_limited_and_the_console_survives(product, floor, supervisors):
    _, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    acks = await asyncio.gather(*(console.call("resync", {"last_seq": 0}) for _ in range(40)))
    assert {ack.get("error", {}).get("id") for ack in acks} == {None, "rate-limited"}
    await asyncio.sleep(0.5)  # the bucket refills with time, which is what is tested here
    assert (await console.call("resync", {"last_seq": 0}))["ok"] is True


async def test_a_deactivated_supervisor_is_closed_out_and_their_phone_released(
        product, floor, callers, supervisors, far_end):
    _, _, _, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    supervisor_id, email = await add_user(product.store, floor)
    _, other_email = await add_user(product.store, floor)
    console, watcher = await supervisors(email).open(), await supervisors(other_email).open()
    await console.ok("monitor", {"session_id": session_id, "mode": "coach"})
    assert await far_end.channel_ids(f"supervisor-{supervisor_id}-")
    auth = {"Authorization": aiohttp.encode_basic_auth(floor.api_key, floor.api_auth)}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.patch(f"{product.url}/v1/users/{supervisor_id}", json={"active": False}) as resp:
            assert resp.status == 200, await resp.text()
    await wait_for(lambda: _closed(console), "the console closed")
    released = await watcher.until(lambda: [d for n, d in watcher.events if n == "monitoring_changed"
                                            and d["mode"] is None], "the supervisor released")
    assert released[0]["reason"] == "stopped"
    await wait_for(lambda: _no_phone(far_end, supervisor_id), "the supervisor's phone hung up")


async def _closed(client) -> bool:
    return not client.sio.connected


async def _no_phone(far_end, supervisor_id: int) -> bool:
    return not await far_end.channel_ids(f"supervisor-{supervisor_id}-")
