"""Supervisors against the simulator: listen and coach through snoop channels on the
caller's leg, barge into the conference, switching live, and stopping."""
from __future__ import annotations

import asyncio

import pytest

from realtime.telephony import Conference, EndedBy, InvalidMode, Mode, Supervision, dial_lead

WAIT = 5.0


@pytest.fixture
async def call(telephony):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    yield conference, lead
    await conference.close()


def snoops(wire) -> list[tuple[str, str, str]]:
    """(target channel, spy, whisper) of every snoop request, in order."""
    return [(path.split("/")[3], query.get("spy", "none"), query.get("whisper", "none"))
            for method, path, query in wire if method == "POST" and path.endswith("/snoop")]


async def channels_of(telephony, bridge_id: str) -> set[str]:
    return set((await telephony.client.get_bridge(bridge_id)).channels)


async def test_listen_coach_barge_switch_and_stop(telephony, call, pbx, wire):
    conference, lead = call
    caller = conference.caller.id
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", "listen", supervisor_id="u9")
    supervisor = supervision.leg.id
    assert pbx.pbx.channels[supervisor].variables["REALTIME_ROLE"] == "supervisor"
    assert snoops(wire) == [(caller, "both", "none")]
    listen_snoop = supervision.snoop_id
    assert await channels_of(telephony, supervision.bridge_id) == {listen_snoop, supervisor}
    assert pbx.pbx.channels[listen_snoop].snoop_target.id == caller
    assert await channels_of(telephony, "conf-s1") == {caller, lead.id}  # nobody hears the supervisor

    await supervision.switch(Mode.COACH)
    assert snoops(wire)[-1] == (caller, "both", "out")  # only the caller hears the supervisor
    assert await channels_of(telephony, supervision.bridge_id) == {supervision.snoop_id, supervisor}
    assert listen_snoop not in pbx.pbx.channels

    await supervision.switch("barge")
    assert await channels_of(telephony, "conf-s1") == {caller, lead.id, supervisor}
    assert not any(channel.snoop_target for channel in pbx.pbx.channels.values())
    assert supervision.bridge_id not in pbx.pbx.bridges

    await supervision.switch("listen")
    assert await channels_of(telephony, "conf-s1") == {caller, lead.id}
    assert await channels_of(telephony, supervision.bridge_id) == {supervision.snoop_id, supervisor}

    await supervision.stop()
    assert (await supervision.leg.wait_ended(WAIT)).by is EndedBy.US
    await asyncio.wait_for(supervision.ended, WAIT)
    assert supervision.bridge_id not in pbx.pbx.bridges
    assert not any(channel.snoop_target for channel in pbx.pbx.channels.values())
    assert not lead.ended.done() and not conference.caller.ended.done()


async def test_supervisor_hanging_up_cleans_up(telephony, call, pbx, far_end):
    conference, _ = call
    supervision = await Supervision.start(telephony, conference, "PJSIP/supervisor9", Mode.COACH, supervisor_id="u9")
    await far_end.hang_up(supervision.leg.id)
    assert (await supervision.leg.wait_ended(WAIT)).by is EndedBy.FAR_END
    await asyncio.wait_for(supervision.ended, WAIT)
    assert supervision.bridge_id not in pbx.pbx.bridges
    with pytest.raises(InvalidMode):
        await Supervision.start(telephony, conference, "PJSIP/supervisor9", "whisper", supervisor_id="u9")
