"""Supervisors against the simulator: listen and coach through snoop channels on the
caller's leg, barge into the conference, switching live, and stopping."""
from __future__ import annotations

import asyncio

import pytest

from realtime.telephony import CallEnded, Conference, ConferenceClosed, EndedBy, InvalidMode, Mode, Supervision

WAIT = 5.0


def snoops(wire) -> list[tuple[str, str, str]]:
    """(target channel, spy, whisper) of every snoop request, in order."""
    return [(path.split("/")[3], query.get("spy", "none"), query.get("whisper", "none"))
            for method, path, query in wire if method == "POST" and path.endswith("/snoop")]


async def snoop_channels(pbx_state) -> dict[str, str]:
    """Live snoop channels by id, with the channel each one snoops on (from its name)."""
    return {channel.id: channel.name.removeprefix("Snoop/").rpartition("-")[0]
            for channel in (await pbx_state.channels()).values() if channel.name.startswith("Snoop/")}


async def test_listen_coach_barge_switch_and_stop(telephony, call, pbx_state, wire):
    conference, lead = call
    caller = conference.caller.id
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", "listen", supervisor_id="u9")
    supervisor = supervision.leg.id
    assert (await pbx_state.roles(supervisor))["REALTIME_ROLE"] == "supervisor"
    assert snoops(wire) == [(caller, "both", "none")]
    listen_snoop = supervision.snoop_id
    assert await pbx_state.members(supervision.bridge_id) == {listen_snoop, supervisor}
    assert await snoop_channels(pbx_state) == {listen_snoop: caller}
    assert await pbx_state.members("conf-s1") == {caller, lead.id}  # nobody hears the supervisor

    await supervision.switch(Mode.COACH)
    assert snoops(wire)[-1] == (caller, "both", "out")  # only the caller hears the supervisor
    assert await pbx_state.members(supervision.bridge_id) == {supervision.snoop_id, supervisor}
    assert await snoop_channels(pbx_state) == {supervision.snoop_id: caller}

    await supervision.switch("barge")
    assert await pbx_state.members("conf-s1") == {caller, lead.id, supervisor}
    assert await snoop_channels(pbx_state) == {}
    assert supervision.bridge_id not in await pbx_state.bridges()

    await supervision.switch("listen")
    assert await pbx_state.members("conf-s1") == {caller, lead.id}
    assert await pbx_state.members(supervision.bridge_id) == {supervision.snoop_id, supervisor}

    await supervision.stop()
    assert (await supervision.leg.wait_ended(WAIT)).by is EndedBy.US
    await asyncio.wait_for(supervision.ended, WAIT)
    assert supervision.bridge_id not in await pbx_state.bridges()
    assert await snoop_channels(pbx_state) == {}
    assert not lead.ended.done() and not conference.caller.ended.done()


async def test_supervisor_hanging_up_cleans_up(telephony, call, pbx_state, far_end):
    conference, _ = call
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", Mode.COACH, supervisor_id="u9")
    await far_end.hang_up(supervision.leg.id)
    assert (await supervision.leg.wait_ended(WAIT)).by is EndedBy.FAR_END
    await asyncio.wait_for(supervision.ended, WAIT)
    assert supervision.bridge_id not in await pbx_state.bridges()
    with pytest.raises(InvalidMode):
        await Supervision.start(telephony, conference, "PJSIP/supervisor9", "whisper", supervisor_id="u9")


async def test_supervision_stops_when_the_callers_phone_drops(telephony, call, pbx_state, far_end):
    conference, _ = call
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", "listen", supervisor_id="u9")
    await far_end.hang_up(conference.caller.id)
    await asyncio.wait_for(supervision.ended, WAIT)
    assert (await supervision.leg.wait_ended(WAIT)).by is EndedBy.US
    assert supervision.bridge_id not in await pbx_state.bridges()


async def test_a_supervisors_phone_moves_to_another_conference_without_dropping(telephony, call, pbx_state, wire):
    conference, lead = call
    other = await Conference.open(telephony, "s2", "camp-7", "PJSIP/agent102")
    try:
        supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", "barge", supervisor_id="u9")
        leg = supervision.leg
        assert leg.id in await pbx_state.members("conf-s1")
        await supervision.detach()
        assert await pbx_state.members("conf-s1") == {conference.caller.id, lead.id}
        assert leg.is_up and not leg.ended.done()  # the phone call goes on

        moved = await Supervision.attach(telephony, other, leg, "coach")
        assert snoops(wire)[-1] == (other.caller.id, "both", "out")
        assert await pbx_state.members(moved.bridge_id) == {moved.snoop_id, leg.id}
        # The first caller hanging up no longer concerns the supervisor: they supervise the second.
        await conference.close()
        await conference.caller.wait_ended(WAIT)
        # A round trip to the PBX lets whatever the hangup set off run first.
        assert await pbx_state.members(moved.bridge_id) == {moved.snoop_id, leg.id}
        assert leg.is_up and moved.mode is Mode.COACH

        await moved.stop()
        assert (await leg.wait_ended(WAIT)).by is EndedBy.US
        await asyncio.wait_for(moved.ended, WAIT)
        assert moved.bridge_id not in await pbx_state.bridges()
    finally:
        await other.close()


async def test_attach_to_a_conference_without_its_caller_is_refused_and_leaves_the_leg_up(telephony, call):
    conference, _ = call
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", "listen", supervisor_id="u9")
    await supervision.detach()
    await conference.close()
    with pytest.raises((ConferenceClosed, CallEnded)):
        await Supervision.attach(telephony, conference, supervision.leg, "listen")
    assert supervision.leg.is_up
    await supervision.leg.hangup()
