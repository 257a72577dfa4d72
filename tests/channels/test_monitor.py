"""Supervisors on /monitor: the floor and its pushed changes, listen / coach / barge checked
in the simulator, kicks and reassignments, refusals, resync, and the audit log of it all.
Real Socket.IO clients against the product as ``realtime serve`` builds it."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
import socketio
from sqlalchemy import select

from realtime.store.models import (
    Account,
    CallAttempt,
    Caller,
    CallerSession,
    CallStatus,
    DialerMode,
    Household,
    HouseholdStatus,
    SupervisorAction,
    UserRole,
)

from .conftest import TIMEOUT, WIRE
from .floor import PERSON, add_caller, add_campaign, add_user, phone, seed_account

MODES = {"listen": ("both", "none"), "coach": ("both", "out")}


async def actions(product, **where) -> list[SupervisorAction]:
    async with product.store.sessions() as db:
        return list(await db.scalars(select(SupervisorAction).filter_by(**where).order_by(SupervisorAction.id)))


async def on_call(product, floor, callers, mode=DialerMode.POWER, phones=None):
    """A caller of a new campaign talking to a lead: (campaign, caller id, client, call_connected)."""
    campaign = await add_campaign(product.store, floor, mode, phones or [phone(PERSON), phone(PERSON)])
    caller_id, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    if mode is DialerMode.PREVIEW:
        await caller.state("previewing")
        await caller.ok("dial")
    connected = await caller.next("call_connected")
    await caller.state("on_call")
    return campaign, caller_id, caller, connected


def snoops(simulator) -> list[tuple[str, str, str]]:
    """(target channel, spy, whisper) of every snoop the simulator was asked for, in order."""
    return [(path.split("/")[3], query.get("spy", "none"), query.get("whisper", "none"))
            for method, path, query in simulator.app[WIRE] if method == "POST" and path.endswith("/snoop")]


async def wait_for(predicate, what: str, timeout: float = TIMEOUT):
    """Poll the simulator's state (it pushes nothing for a bridge's members) until true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never true: {what}")
        await asyncio.sleep(0.02)


async def bridge_members(far_end, bridge_id: str) -> set[str]:
    return next((set(b["channels"]) for b in await far_end.bridges() if b["id"] == bridge_id), set())


async def test_the_floor_shows_campaigns_and_sessions_and_pushes_their_changes(
        product, floor, callers, supervisors):
    campaign, caller_id, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    _, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    snapshot = console.latest("floor")
    assert snapshot["seq"] >= 0 and snapshot["stream"] and snapshot["recording"] is False
    assert snapshot["supervisor"]["role"] == "supervisor" and snapshot["supervisor"]["monitoring"] is None
    # The floor has the call (in the snapshot, or pushed right after it).
    row = await console.until(lambda: (r := console.sessions.get(session_id)) and r["state"] == "on_call" and r,
                              "the call")
    assert row["caller"]["id"] == caller_id and row["campaign_id"] == campaign
    assert row["lead_phone"] == connected["household"]["phone"]
    assert row["since"].endswith("Z") and row["monitors"] == []
    summary = await console.until(lambda: (c := console.campaigns.get(campaign)) and c["callers"]["on_call"] == 1
                                  and c, "the campaign's caller on a call")
    assert summary["dialer_mode"] == "power" and summary["lines_ringing"] == 0
    assert set(summary["callers"]) >= {"on_hold", "previewing", "on_call", "wrap_up", "transfer"}

    # The lead hangs up: wrap-up, then results and the next lead, each pushed.
    await caller.ok("hangup")
    updated = await console.session(session_id, state="wrap_up")
    assert updated["lead_phone"] == connected["household"]["phone"]
    campaign_row = await console.next("campaign_updated")
    assert campaign_row["campaign"]["campaign_id"] == campaign
    await caller.ok("submit", {"call_id": connected["call_id"],
                               "lead_id": connected["household"]["leads"][0]["id"], "then": "continue"})
    following = await caller.next("call_connected")
    await console.session(session_id, state="on_call", lead_phone=following["household"]["phone"])
    # The households left and the abandonment come from the store, within seconds: nothing
    # is left to dial now (both households were), nobody was abandoned.
    figures = await console.until(lambda: (c := console.campaigns.get(campaign)) and c["households_left"] == 0
                                  and c["abandonment"] and c["abandonment"]["last_30_days"]["human_answered"] == 2
                                  and c, "the campaign's figures", timeout=15)
    assert figures["abandonment"] == {"limit": 0.03, "over_limit": False,
                                      "last_24_hours": {"abandoned": 0, "human_answered": 2, "rate": 0.0},
                                      "last_30_days": {"abandoned": 0, "human_answered": 2, "rate": 0.0}}
    assert figures["callers"]["on_call"] == 1

    await caller.ok("hangup")
    await caller.state("wrap_up")
    await caller.ok("submit", {"call_id": following["call_id"],
                               "lead_id": following["household"]["leads"][0]["id"], "then": "stop"})
    ended = await console.next("session_ended", session_id=session_id)
    assert ended["reason"] == "stopped"
    seqs = [data["seq"] for _, data in console.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(data["at"].endswith("Z") for _, data in console.events)


async def test_listen_coach_barge_switch_on_the_callers_conference_and_follow_the_caller(
        product, floor, callers, supervisors, simulator, far_end):
    campaign, caller_id, caller, connected = await on_call(
        product, floor, callers, phones=[phone(PERSON), phone(PERSON)])
    session_id = connected["session_id"]
    supervisor_id, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    caller_leg = (await far_end.channel_ids(f"caller-{session_id}-"))[0]

    ack = await console.ok("monitor", {"session_id": session_id, "mode": "listen"})
    assert ack == {"ok": True, "session_id": session_id, "mode": "listen"}
    [supervisor_leg] = await far_end.channel_ids(f"supervisor-{supervisor_id}-")
    assert snoops(simulator)[-1] == (caller_leg, "both", "none")  # hears both sides, says nothing
    assert await bridge_members(far_end, f"sup-{supervisor_leg}") == {supervisor_leg, *await far_end.channel_ids(
        f"snoop-{supervisor_leg}")}
    assert supervisor_leg not in await bridge_members(far_end, f"conf-{session_id}")
    change = await console.next("monitoring_changed", session_id=session_id)
    assert change == {**change, "supervisor": {"id": supervisor_id, "name": change["supervisor"]["name"]},
                      "mode": "listen", "reason": "monitor"}
    monitors = await console.until(lambda: console.sessions[session_id]["monitors"], "who monitors the caller")
    assert monitors == [{"supervisor": change["supervisor"], "mode": "listen"}]

    await console.ok("monitor", {"session_id": session_id, "mode": "coach"})
    assert snoops(simulator)[-1] == (caller_leg, "both", "out")  # now the caller hears the supervisor
    assert await far_end.channel_ids(f"supervisor-{supervisor_id}-") == [supervisor_leg]  # the same phone call
    await wait_for(lambda: _snoops_alive(far_end, supervisor_leg, 1), "one snoop channel left after the switch")

    await console.ok("monitor", {"session_id": session_id, "mode": "barge"})
    conference = await bridge_members(far_end, f"conf-{session_id}")
    assert supervisor_leg in conference and caller_leg in conference
    await wait_for(lambda: _snoops_alive(far_end, supervisor_leg, 0), "no snoop while barging")
    assert await far_end.channel_ids(f"supervisor-{supervisor_id}-") == [supervisor_leg]

    await console.ok("monitor", {"session_id": session_id, "mode": "listen"})
    assert supervisor_leg not in await bridge_members(far_end, f"conf-{session_id}")
    # The lead hangs up; the supervisor stays on the caller through wrap-up and the next lead.
    await far_end.hang_up(f"lead-{connected['call_id']}")
    await caller.state("wrap_up")
    await caller.ok("submit", {"call_id": connected["call_id"],
                               "lead_id": connected["household"]["leads"][0]["id"], "then": "continue"})
    following = await caller.next("call_connected")
    await caller.state("on_call")
    assert await far_end.channel_ids(f"supervisor-{supervisor_id}-") == [supervisor_leg]
    assert await bridge_members(far_end, f"conf-{session_id}") >= {caller_leg, f"lead-{following['call_id']}"}

    await console.ok("stop_monitoring")
    await wait_for(lambda: _gone(far_end, supervisor_leg), "the supervisor's phone hung up")
    stopped = await console.next("monitoring_changed", session_id=session_id, mode=None)
    assert stopped["reason"] == "stopped"
    audit = await actions(product, user_id=supervisor_id)
    assert [(a.action, a.details["outcome"], a.details.get("mode")) for a in audit] == [
        ("monitor", "ok", "listen"), ("monitor", "ok", "coach"), ("monitor", "ok", "barge"),
        ("monitor", "ok", "listen"), ("stop_monitoring", "ok", None)]
    assert {(a.caller_session_id, a.caller_id) for a in audit} == {(session_id, caller_id)}


async def _snoops_alive(far_end, supervisor_leg: str, count: int) -> bool:
    return len(await far_end.channel_ids(f"snoop-{supervisor_leg}")) == count


async def _gone(far_end, channel_id: str) -> bool:
    return channel_id not in {c["id"] for c in await far_end.channels()}


async def test_the_supervisor_is_told_and_released_when_the_session_ends(
        product, floor, callers, supervisors, far_end):
    _, _, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    supervisor_id, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    await console.ok("monitor", {"session_id": session_id, "mode": "barge"})
    [supervisor_leg] = await far_end.channel_ids(f"supervisor-{supervisor_id}-")
    await far_end.hang_up((await far_end.channel_ids(f"caller-{session_id}-"))[0])  # the caller's phone drops
    await console.until(lambda: session_id not in console.sessions, "the session's end")
    [released] = await console.until(lambda: [data for name, data in console.events if name == "monitoring_changed"
                                              and data["mode"] is None], "the supervisor released")
    assert (released["session_id"], released["reason"]) == (session_id, "session_ended")
    await console.until(lambda: [data for name, data in console.events if name == "phone_changed"
                                 and data["connected"] is False], "the supervisor's phone gone")
    await wait_for(lambda: _gone(far_end, supervisor_leg), "the supervisor's phone hung up")
    assert f"conf-{session_id}" not in {b["id"] for b in await far_end.bridges()}


async def test_a_supervisor_moves_between_callers_without_dropping_the_phone(
        product, floor, callers, supervisors, far_end):
    _, _, _, first = await on_call(product, floor, callers)
    _, _, _, second = await on_call(product, floor, callers)
    supervisor_id, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    await console.ok("monitor", {"session_id": first["session_id"], "mode": "barge"})
    [leg] = await far_end.channel_ids(f"supervisor-{supervisor_id}-")
    await console.ok("monitor", {"session_id": second["session_id"], "mode": "listen"})
    assert await far_end.channel_ids(f"supervisor-{supervisor_id}-") == [leg]
    assert leg not in await bridge_members(far_end, f"conf-{first['session_id']}")
    assert await bridge_members(far_end, f"sup-{leg}")  # listening on the second caller
    moved = await console.next("monitoring_changed", session_id=first["session_id"], mode=None)
    assert moved["reason"] == "moved"
    await console.next("monitoring_changed", session_id=second["session_id"], mode="listen")


async def test_a_supervisor_without_a_phone_is_refused_until_they_dial_in(
        product, floor, callers, supervisors, far_end):
    _, _, _, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    supervisor_id, email = await add_user(product.store, floor, endpoint=None)
    console = await supervisors(email).open()
    assert console.latest("floor")["supervisor"]["phone_endpoint"] is False
    refused = await console.call("monitor", {"session_id": session_id, "mode": "listen"})
    assert refused["ok"] is False and refused["error"]["id"] == "no-phone"
    assert await far_end.channel_ids("supervisor-") == []

    dial_in = await console.ok("dial_in")
    assert dial_in["number"] == "+12025550123" and len(dial_in["pin"]) == 7
    inbound = await far_end.dial_in("+12025550177")
    await far_end.dtmf(inbound["id"], dial_in["pin"])
    phone_up = await console.next("phone_changed", connected=True)
    assert phone_up["supervisor"]["id"] == supervisor_id
    await console.ok("monitor", {"session_id": session_id, "mode": "coach"})
    assert await bridge_members(far_end, f"sup-{inbound['id']}")  # their own call, snooping on the caller
    audit = await actions(product, user_id=supervisor_id)
    assert [(a.action, a.details["outcome"], a.details.get("error", {}).get("id")) for a in audit] == [
        ("monitor", "refused", "no-phone"), ("dial_in", "ok", None), ("monitor", "ok", None)]
    assert "pin" not in str(audit[1].details)  # the PIN stays out of the log


async def test_kick_during_a_call_ends_the_call_on_record_and_closes_the_callers_page(
        product, floor, callers, supervisors, far_end):
    campaign, caller_id, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    supervisor_id, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    ack = await console.ok("kick", {"session_id": session_id})
    assert ack["session_id"] == session_id
    await caller.next("call_ended", call_id=connected["call_id"])
    await caller.next("session_ended", reason="kicked")
    await console.next("session_ended", session_id=session_id, reason="kicked")
    await wait_for(lambda: _disconnected(caller), "the caller's page closed")
    assert await far_end.channels() == []
    async with product.store.sessions() as db:
        attempt = await db.scalar(select(CallAttempt).where(CallAttempt.channel_id == f"lead-{connected['call_id']}"))
        household = await db.get(Household, attempt.household_id)
        row = await db.get(CallerSession, session_id)
    assert attempt.status is CallStatus.COMPLETED and attempt.ended_at is not None
    assert household.status is not HouseholdStatus.RESERVED  # back in the queue, no results came
    assert (row.status.value, row.end_reason) == ("ended", "kicked")
    [audit] = await actions(product, user_id=supervisor_id)
    assert (audit.action, audit.caller_session_id, audit.caller_id, audit.details["outcome"]) == (
        "kick", session_id, caller_id, "ok")
    # The kicked caller's sign-in ended: the page cannot come back without signing in again.
    with pytest.raises(socketio.exceptions.ConnectionError):
        await caller.connect()
    assert caller.errors[-1]["id"] == "session-ended"


async def _disconnected(client) -> bool:
    return not client.sio.connected


async def test_kick_on_hold_and_refusals_change_nothing_but_the_log(
        product, floor, callers, supervisors):
    # One line that rings for long (no answer, 300 s at the simulator's speed): the caller waits on hold.
    campaign = await add_campaign(product.store, floor, DialerMode.PREDICTIVE, [phone("81")], ring_timeout_seconds=300)
    caller_id, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.state("on_hold")
    session_id = caller.events[0][1]["session_id"]
    supervisor_id, email = await add_user(product.store, floor)
    console = await supervisors(email).open()

    other = await seed_account(product.store, "Another floor")
    other_campaign = await add_campaign(product.store, other, DialerMode.PREVIEW, [phone(PERSON)])
    outsider_caller, outsider_name = await add_caller(product.store, other, other_campaign)
    outsider = await callers(outsider_name).open()
    theirs = outsider.events[0][1]["session_id"]
    for command, payload in (("kick", {"session_id": theirs}), ("monitor", {"session_id": theirs, "mode": "listen"}),
                             ("reassign", {"session_id": theirs, "campaign_id": campaign})):
        refused = await console.call(command, payload)
        assert refused["ok"] is False and refused["error"]["id"] == "no-such-session", (command, refused)
    refused = await console.call("set_recording", {"enabled": True})
    assert refused["error"]["id"] == "admins-only"
    for bad in ({"session_id": "1"}, {"session_id": session_id, "extra": 1}, {}):
        assert (await console.call("kick", bad))["error"]["id"] == "invalid-payload"
    refused = await console.call("monitor", {"session_id": session_id, "mode": "whisper"})
    assert refused["error"]["id"] == "invalid-payload"
    assert (await console.call("stop_monitoring"))["error"]["id"] == "not-monitoring"
    assert (await console.call("reassign", {"session_id": session_id, "campaign_id": other_campaign}))[
        "error"]["id"] == "no-such-campaign"
    assert outsider.names()[-1] != "session_ended"
    async with product.store.sessions() as db:
        assert (await db.get(Account, floor.account_id)).record_calls is False
        assert (await db.get(Caller, caller_id)).campaign_id == campaign
    audit = await actions(product, user_id=supervisor_id)
    assert all(a.details["outcome"] == "refused" for a in audit) and len(audit) == 10
    cross = [a for a in audit if a.details.get("session_id") == theirs]
    assert len(cross) == 3 and all(a.caller_session_id is None and a.caller_id is None for a in cross)
    assert await actions(product, account_id=other.account_id) == []

    await console.ok("kick", {"session_id": session_id})
    await caller.next("session_ended", reason="kicked")
    again = await console.call("kick", {"session_id": session_id})
    assert again["error"]["id"] == "session-ended"


async def test_reassign_during_a_call_moves_the_caller_after_it(product, floor, callers, supervisors):
    campaign, caller_id, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    target = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)], name="Second")
    supervisor_id, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    ack = await console.ok("reassign", {"session_id": session_id, "campaign_id": target})
    assert ack["effective"] == "after_call"
    await caller.ok("hangup")
    await caller.state("wrap_up")
    await caller.ok("submit", {"call_id": connected["call_id"],
                               "lead_id": connected["household"]["leads"][0]["id"], "then": "continue"})
    changed = await caller.next("campaign_changed")
    assert changed["campaign"]["id"] == target
    await caller.state("previewing")
    await console.session(session_id, campaign_id=target)
    async with product.store.sessions() as db:
        assert (await db.get(Caller, caller_id)).campaign_id == target  # their next session too
    [audit] = await actions(product, user_id=supervisor_id)
    assert (audit.action, audit.details["campaign_id"], audit.details["from_campaign_id"],
            audit.details["effective"]) == ("reassign", target, campaign, "after_call")


async def test_an_admin_switches_recording_and_every_console_hears_it(product, floor, supervisors):
    admin_id, admin_email = await add_user(product.store, floor, UserRole.ADMIN)
    _, email = await add_user(product.store, floor)
    admin, watcher = await supervisors(admin_email).open(), await supervisors(email).open()
    assert (await admin.ok("set_recording", {"enabled": True}))["enabled"] is True
    assert (await watcher.next("recording_changed"))["enabled"] is True
    async with product.store.sessions() as db:
        assert (await db.get(Account, floor.account_id)).record_calls is True
    [audit] = await actions(product, user_id=admin_id)
    assert (audit.action, audit.details) == ("set_recording", {"enabled": True, "outcome": "ok"})
    await watcher.close()
    await watcher.connect()
    assert (await watcher.next("floor"))["recording"] is True


async def test_a_console_that_reconnects_gets_what_it_missed_in_order(product, floor, callers, supervisors):
    campaign, caller_id, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    _, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    _, other_email = await add_user(product.store, floor)
    await supervisors(other_email).open()  # keeps the account's stream going meanwhile
    stream = console.latest("floor")["stream"]
    await console.until(lambda: console.sessions.get(session_id, {}).get("state") == "on_call", "the call")
    await console.close()
    last_seq = console.last_seq

    await caller.ok("hangup")
    await caller.state("wrap_up")
    await caller.ok("submit", {"call_id": connected["call_id"],
                               "lead_id": connected["household"]["leads"][0]["id"], "then": "continue"})
    following = await caller.next("call_connected")

    await console.connect(stream=stream, last_seq=last_seq)
    await console.until(lambda: console.sessions[session_id]["lead_phone"] == following["household"]["phone"],
                        "the caller's next lead")
    assert "floor" not in console.names()[1:], "the missed events were replayed, not a new floor"
    seqs = [data["seq"] for _, data in console.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "every event once, in order, across the gap"
    ack = await console.ok("resync", {"last_seq": 0, "stream": "elsewhere"})
    assert ack["floor"] is True and console.names()[-1] == "floor"


async def test_an_admin_kicks_through_the_rest_api_with_the_same_effect_and_audit(product, floor, callers,
                                                                                   supervisors):
    campaign, caller_id, caller, connected = await on_call(product, floor, callers)
    session_id = connected["session_id"]
    _, email = await add_user(product.store, floor)
    console = await supervisors(email).open()
    auth = {"Authorization": aiohttp.encode_basic_auth(floor.api_key, floor.api_auth)}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{product.url}/v1/caller_sessions/{session_id}") as resp:
            assert (await resp.json())["state"] == "on_call"
        async with http.delete(f"{product.url}/v1/caller_sessions/{session_id}") as resp:
            assert resp.status == 204, await resp.text()
        await caller.next("session_ended", reason="kicked")
        await console.next("session_ended", session_id=session_id, reason="kicked")
        async with http.delete(f"{product.url}/v1/caller_sessions/{session_id}") as resp:
            assert (resp.status, (await resp.json())["error"]["id"]) == (409, "session-ended")
        async with http.get(f"{product.url}/v1/supervisor_actions", params={"caller_session_id": session_id}) as resp:
            log = (await resp.json())["resources"]
    assert [(e["action"], e["actor"], e["user_id"], e["outcome"]) for e in log] == [
        ("kick", "api_key", None, "ok"), ("kick", "api_key", None, "refused")]
    assert log[1]["error"]["id"] == "session-ended" and log[0]["caller_id"] == caller_id
    await wait_for(lambda: _disconnected(caller), "the caller's page closed")
