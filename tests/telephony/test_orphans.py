"""Channels and bridges a dead engine left in Asterisk: the next engine finds them (by role
variables, our ids, our Stasis application, our bridges), hands them to its claimers, and
hangs up / destroys what nobody keeps - at start-up and after every reconnect."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import pytest

from realtime.config import Settings
from realtime.telephony import Conference, Role, Supervision, Telephony, dial_lead, start_telephony
from realtime.telephony.ari import AriClient
from realtime.telephony.ari.events import ChannelDestroyed, StasisStart
from realtime.telephony.dial_in import DialIn
from realtime.telephony.transfer import Transfer

from tests.telephony.conftest import AMD_CONTEXT, APP, PASSWORD, USER

WAIT = 5.0
ENGINE = Path(__file__).with_name("engine_process.py")


@pytest.fixture
async def asterisk(pbx):
    """What the PBX holds, read over ARI by an observer that is no Stasis application."""
    client = AriClient(pbx.url, USER, PASSWORD, "observer")
    yield client
    await client.close()


async def new_engine(pbx) -> Telephony:
    client = AriClient(pbx.url, USER, PASSWORD, APP, reconnect_backoff=(0.01, 0.1))
    await client.connect()
    return Telephony(client, amd_context=AMD_CONTEXT)


async def channel_ids(asterisk: AriClient) -> set[str]:
    return {channel.id for channel in await asterisk.list_channels()}


async def bridge_ids(asterisk: AriClient) -> set[str]:
    return {bridge.id for bridge in await asterisk.list_bridges()}


async def test_an_engine_killed_mid_call_leaves_nothing_behind_once_the_next_one_reaps(pbx, asterisk, caplog):
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ENGINE), pbx.url, USER, PASSWORD, APP, stdout=asyncio.subprocess.PIPE)
    try:
        made = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    # A real Asterisk hangs up nothing of a dead application: all of it is still up.
    assert await channel_ids(asterisk) == set(made["channels"])
    assert await bridge_ids(asterisk) == set(made["bridges"])

    engine = await new_engine(pbx)
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.telephony.orphans"):
            reaped = await engine.reap_orphans()
    finally:
        await engine.close()
    assert {orphan.id: orphan.role.role.value for orphan in reaped.channels} == made["channels"]
    assert {orphan.id for orphan in reaped.bridges} == set(made["bridges"])
    assert await channel_ids(asterisk) == set() and await bridge_ids(asterisk) == set()
    ringing = next(orphan for orphan in reaped.channels if orphan.role.call_id == "c2")
    assert (ringing.role.role, ringing.role.campaign_id) == (Role.LEAD, "camp-7")  # read while it rang
    snoop = next(orphan for orphan in reaped.channels if orphan.role.role is Role.SNOOP)
    assert (snoop.role.session_id, snoop.role.call_id) == ("s1", "u7")
    said = [record.getMessage() for record in caplog.records if record.name == "realtime.telephony.orphans"]
    for orphan in (*reaped.channels, *reaped.bridges):  # one line each: what it was, and why
        [line] = [text for text in said if f" {orphan.id} " in text]
        assert orphan.what in line and "no live session owns it" in line


async def test_what_a_claimer_keeps_survives_and_the_rest_is_reaped(pbx, asterisk):
    before = await new_engine(pbx)
    kept_call = await Conference.open(before, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(before, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(kept_call)
    lost_call = await Conference.open(before, "s2", "camp-7", "PJSIP/agent102")
    ringing = await dial_lead(before, call_id="c2", campaign_id="camp-7", number="+15555550185", ring_timeout=600)
    await asyncio.wait_for(ringing.ringing, WAIT)
    await before.close()  # the process goes; its calls stay up in Asterisk

    offered = []

    async def claimer(channels, bridges):
        offered.append(({live.channel.id: (live.role.role, live.role.session_id) for live in channels},
                        {bridge.id for bridge in bridges}))
        return {"conf-s1"}  # session s1 is adopted (or another live engine's): its bridge and who is in it

    after = await new_engine(pbx)
    try:
        after.add_claimer(claimer)
        reaped = await after.reap_orphans()
    finally:
        await after.close()
    assert offered == [({kept_call.caller.id: (Role.CALLER, "s1"), lead.id: (Role.LEAD, "s1"),
                         lost_call.caller.id: (Role.CALLER, "s2"), ringing.id: (Role.LEAD, "")},
                        {"conf-s1", "conf-s2"})]
    assert reaped.ids == {lost_call.caller.id, ringing.id, "conf-s2"}
    assert await channel_ids(asterisk) == {kept_call.caller.id, lead.id}
    assert await bridge_ids(asterisk) == {"conf-s1"}


async def test_a_failing_claimer_stops_the_reaping(pbx, asterisk, caplog):
    before = await new_engine(pbx)
    conference = await Conference.open(before, "s1", "camp-7", "PJSIP/agent101")
    await before.close()

    async def broken(channels, bridges):
        raise RuntimeError("lease store unreachable")

    after = await new_engine(pbx)
    try:
        after.add_claimer(broken)
        reaped = await after.reap_orphans()
    finally:
        await after.close()
    assert reaped.ids == set()  # what is kept is unknown: nothing is taken
    assert await channel_ids(asterisk) == {conference.caller.id}
    assert "claimer" in caplog.text


async def test_another_applications_calls_are_left_to_it_unless_a_claimer_decides(telephony, pbx, asterisk):
    other = AriClient(pbx.url, USER, PASSWORD, "engine-b")  # another engine on the same Asterisk
    await other.connect()
    try:
        answered = other.wait_for(lambda e: isinstance(e, StasisStart) and "lead-b1" in e.channel_ids, WAIT)
        await other.originate("PJSIP/+15555550104@trunk", channel_id="lead-b1", app_args=["lead"],
                              variables={"REALTIME_ROLE": "lead", "REALTIME_CAMPAIGN": "camp-9"})
        await answered
        assert (await telephony.reap_orphans()).ids == set()  # no claimer: nobody here can say it is dead

        async def engine_b_is_dead(channels, bridges):
            return set()

        telephony.add_claimer(engine_b_is_dead)
        assert (await telephony.reap_orphans()).ids == {"lead-b1"}
        assert await channel_ids(asterisk) == set()
    finally:
        await other.close()


async def test_start_up_reaping_runs_once_asterisk_is_reachable(pbx, asterisk):
    before = await new_engine(pbx)
    conference = await Conference.open(before, "s1", "camp-7", "PJSIP/agent101")
    await before.close()
    # As the server starts it: a configured Asterisk is connected to in the background.
    engine = await start_telephony(Settings(secret_key="s" * 32, ari_url=pbx.url, ari_user=USER,
                                            ari_password=PASSWORD, ari_app=APP))
    try:
        reaped = await asyncio.wait_for(engine.reap_orphans_at_start(), WAIT)
    finally:
        await engine.close()
    assert reaped.ids == {conference.caller.id, "conf-s1"}
    assert await channel_ids(asterisk) == set() and await bridge_ids(asterisk) == set()


async def test_a_reconnect_reaps_what_nobody_owns_and_keeps_every_live_call(telephony, call, pbx, asterisk, far_end):
    assert (await telephony.reap_orphans()).ids == set()  # the engine's start-up reaping: nothing of nobody's
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550102", "warm", transfer_id="t1")
    await asyncio.wait_for(transfer.connected, WAIT)
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor7", "listen", supervisor_id="u7")
    # A caller typing a PIN is ours too, though not a leg yet.
    typing = telephony.client.wait_for(lambda e: isinstance(e, StasisStart) and e.args == ("dial-in",), WAIT)
    desk = DialIn(telephony, no_such_pin, lambda result: None, digit_timeout=60)
    desk.start()
    await far_end.request("POST", "inbound", app=APP, args="dial-in", **{"from": "+15555550100"})
    dialling_in = (await typing).channel.id
    # Left by nobody we know: a lead with its role, that no leg of ours tracks.
    stray = AriClient(pbx.url, USER, PASSWORD, APP)
    await stray.originate("PJSIP/+15555550103@trunk", channel_id="lead-stray", app_args=["lead"],
                          variables={"REALTIME_ROLE": "lead", "REALTIME_CAMPAIGN": "camp-7", "REALTIME_CALL": "stray"})
    await stray.close()
    gone = telephony.client.wait_for(lambda e: isinstance(e, ChannelDestroyed) and "lead-stray" in e.channel_ids, WAIT)
    live = await channel_ids(asterisk) - {"lead-stray"}

    await far_end.drop_websockets()
    await gone
    assert await channel_ids(asterisk) == live
    assert live == {conference.caller.id, lead.id, transfer.party.id, supervision.leg.id, supervision.snoop_id,
                    dialling_in}
    assert await bridge_ids(asterisk) == {"conf-s1", "xfer-t1", supervision.bridge_id}
    desk.stop()
    await supervision.stop()


async def no_such_pin(pin: str) -> None:
    return None
