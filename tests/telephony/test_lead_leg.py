"""Lead legs against the simulator: outcomes of a dial, AMD, connecting into the
caller's conference, voicemail drop and abandon with the safe-harbor message."""
from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from realtime.telephony import (
    CallEnded,
    Conference,
    DialFailed,
    EndedBy,
    InvalidNumber,
    LegState,
    NotAnswered,
    Verdict,
    dial_lead,
)
from realtime.telephony.ari.events import PlaybackStarted, StasisEnd
from realtime.telephony.roles import CALL, CAMPAIGN, ROLE, SESSION

WAIT = 5.0


async def dial(telephony, number: str, call_id: str = "c1", ring_timeout: int = 20, **options):
    return await dial_lead(telephony, call_id=call_id, campaign_id="camp-7", number=number,
                           caller_id='"Campaign" <5551000>', ring_timeout=ring_timeout, **options)


@pytest.mark.parametrize("number, reason, cause", [
    ("+15555550172", "busy", 17),
    ("+15555550192", "congestion", 34),
    ("+15555550181", "no-answer", 19),
    ("+15555550197", "unreachable", None),
])
async def test_unanswered_lead_fails_with_the_reason(telephony, number, reason, cause):
    lead = await dial(telephony, number, ring_timeout=1)
    with pytest.raises(DialFailed) as failed:
        await asyncio.wait_for(lead.answered, WAIT)
    if reason != "no-answer":  # a no-answer rang; the others never did
        with pytest.raises(DialFailed):
            await lead.ringing
    assert (failed.value.reason, failed.value.cause) == (reason, cause)
    end = await lead.wait_ended(WAIT)
    assert (end.failure, end.cause, end.answered) == (reason, cause, False)


async def test_lead_rings_then_answers_human_at_once_without_amd(telephony, pbx_state):
    lead = await dial(telephony, "+15555550101")
    await asyncio.wait_for(lead.ringing, WAIT)
    assert await asyncio.wait_for(lead.answered, WAIT) is Verdict.HUMAN
    assert isinstance(lead.answered_at, datetime)
    caller = (await telephony.client.get_channel(lead.id)).caller
    assert (caller.name, caller.number) == ("Campaign", "5551000")
    assert await pbx_state.roles(lead.id) == {ROLE: "lead", SESSION: "", CAMPAIGN: "camp-7", CALL: "c1"}
    await lead.hangup()
    end = await lead.wait_ended(WAIT)
    assert end.by is EndedBy.US and end.answered


@pytest.mark.parametrize("number, verdict", [("+15555550101", Verdict.HUMAN), ("+15555550163", Verdict.MACHINE)])
async def test_amd_verdict_comes_back_from_the_amd_context(telephony, far_end, number, verdict):
    lead = await dial(telephony, number, amd=True)
    assert await asyncio.wait_for(lead.answered, WAIT) is verdict
    assert lead.amd_cause
    assert lead.verdict_at >= lead.answered_at
    await lead.hangup()
    await lead.wait_ended(WAIT)


async def test_human_lead_is_connected_into_the_conference(telephony):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial(telephony, "+15555550101", amd=True)
    assert await asyncio.wait_for(lead.answered, WAIT) is Verdict.HUMAN
    await lead.connect_to(conference)
    bridge = await telephony.client.get_bridge(conference.bridge_id)
    assert set(bridge.channels) == {conference.caller.id, lead.id}
    assert await telephony.client.get_variable(lead.id, SESSION) == "s1"
    assert not conference.moh_playing
    await conference.close()
    assert (await lead.wait_ended(WAIT)).by is EndedBy.US


async def test_lead_hanging_up_after_bridging_ends_by_the_far_end(telephony):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    lead = await dial(telephony, "+15555550145")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.connect_to(conference)
    end = await lead.wait_ended(WAIT)
    assert (end.by, end.cause, end.answered) == (EndedBy.FAR_END, 16, True)
    assert lead.connected_at is not None
    # The caller stays, alone again, with music on hold.
    await conference.wait_alone(WAIT)
    assert not conference.caller.ended.done()
    await conference.close()


async def test_machine_gets_the_voicemail_then_is_hung_up(telephony, far_end):
    lead = await dial(telephony, "+15555550163", amd=True)
    assert await asyncio.wait_for(lead.answered, WAIT) is Verdict.MACHINE
    await lead.drop_voicemail("recording:campaign-7-voicemail")
    end = await lead.wait_ended(WAIT)
    assert end.by is EndedBy.US
    [playback] = (await far_end.journal())["playbacks"]
    assert playback["media"] == ["recording:campaign-7-voicemail"]
    assert playback["state"] == "done"  # played to the end before the hangup
    assert lead.voicemail_started_at is not None


@pytest.mark.sim_speed(1.0)  # the message lasts 1.5 s: time to hang up in the middle
async def test_machine_hanging_up_during_the_voicemail_ends_by_the_far_end(telephony, far_end):
    await far_end.request("POST", "outcomes", outcome="machine", ring_seconds=0)
    lead = await dial(telephony, "+15555550163")
    await asyncio.wait_for(lead.answered, WAIT)
    started = telephony.client.wait_for(lambda e: isinstance(e, PlaybackStarted) and lead.id in e.channel_ids, WAIT)
    await lead.drop_voicemail("recording:campaign-7-voicemail")
    await started
    await far_end.hang_up(lead.id)
    end = await lead.wait_ended(WAIT)
    assert (end.by, end.cause) == (EndedBy.FAR_END, 16)
    [playback] = (await far_end.journal())["playbacks"]
    assert playback["state"] == "failed"


# A real-time clock: the 2 s are measured in simulated seconds, which a fast clock
# would squeeze into a few milliseconds of a busy test machine.
@pytest.mark.sim_speed(1.0)
async def test_abandon_plays_safe_harbor_within_two_seconds_of_answer(telephony, far_end):
    await far_end.request("POST", "outcomes", outcome="human", ring_seconds=0)
    lead = await dial(telephony, "+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    started = telephony.client.wait_for(lambda e: isinstance(e, PlaybackStarted) and lead.id in e.channel_ids, WAIT)
    await lead.abandon("sound:safe-harbor")
    await started
    journal = await far_end.journal()
    [channel] = [c for c in journal["channels"] if c["id"] == lead.id]
    [playback] = journal["playbacks"]
    assert playback["media"] == ["sound:safe-harbor"]
    assert playback["started_at"] - channel["answered_at"] < 2.0
    assert lead.safe_harbor_started_at >= lead.answered_at
    await lead.hangup()


async def test_abandoned_lead_hears_the_whole_message_then_is_hung_up(telephony, far_end):
    lead = await dial(telephony, "+15555550101")
    await asyncio.wait_for(lead.answered, WAIT)
    await lead.abandon("sound:safe-harbor")
    assert (await lead.wait_ended(WAIT)).by is EndedBy.US
    [playback] = (await far_end.journal())["playbacks"]
    assert (playback["media"], playback["state"]) == (["sound:safe-harbor"], "done")


@pytest.mark.sim_speed(2.0)  # AMD takes 1.1 s: the test acts inside it even on a busy machine
async def test_abandon_during_amd_plays_as_soon_as_detection_ends(telephony, far_end):
    in_amd = telephony.client.wait_for(lambda e: isinstance(e, StasisEnd) and "lead-c1" in e.channel_ids, WAIT)
    lead = await dial(telephony, "+15555550101", amd=True)
    await in_amd
    assert lead.state is LegState.DETECTING
    await lead.abandon("sound:safe-harbor")
    await lead.wait_ended(WAIT)
    [playback] = (await far_end.journal())["playbacks"]
    assert playback["media"] == ["sound:safe-harbor"]
    assert lead.safe_harbor_started_at >= lead.verdict_at


async def test_requests_on_a_lead_that_is_not_up_are_refused(telephony):
    with pytest.raises(InvalidNumber):
        await dial(telephony, "555-CALL-NOW")
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101")
    ringing = await dial(telephony, "+15555550181", call_id="c2")
    await asyncio.wait_for(ringing.ringing, WAIT)
    with pytest.raises(NotAnswered):
        await ringing.connect_to(conference)
    await ringing.hangup()
    end = await ringing.wait_ended(WAIT)
    assert end.failure == "cancelled"
    with pytest.raises(CallEnded):
        await ringing.abandon("sound:safe-harbor")
    await conference.close()
