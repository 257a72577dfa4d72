"""Caller conferences against the simulator: the bridge, the caller's leg, music on hold
while the caller is alone, dial-in callers, and the caller's leg dropping."""
from __future__ import annotations

import asyncio

import pytest

from realtime.telephony import CallerUnreachable, Conference, EndedBy, InvalidEndpoint, dial_lead
from realtime.telephony.ari import NoSuchBridge
from realtime.telephony.ari.events import StasisStart, decode_event
from realtime.telephony.roles import CALL, CAMPAIGN, ROLE, SESSION

WAIT = 5.0


async def test_open_bridges_the_callers_phone_with_music_while_alone(telephony, pbx_state):
    conference = await Conference.open(telephony, "s1", "camp-7", "PJSIP/agent101", caller_id="Dialer <5551000>")
    bridge = await telephony.client.get_bridge("conf-s1")
    assert bridge.bridge_type == "mixing"
    assert list(bridge.channels) == [conference.caller.id]
    assert pbx_state.moh_playing("conf-s1")  # music while the caller is alone
    assert await pbx_state.roles(conference.caller.id) == {ROLE: "caller", SESSION: "s1", CAMPAIGN: "camp-7", CALL: ""}
    assert (await telephony.client.get_channel(conference.caller.id)).name.startswith("PJSIP/agent101")

    lead = await dial_lead(telephony, call_id="c1", campaign_id="camp-7", number="+15555550101")
    await lead.answered
    await lead.connect_to(conference)
    assert not pbx_state.moh_playing("conf-s1")  # music stops when the lead joins
    await lead.hangup()
    await conference.wait_alone(WAIT)
    assert pbx_state.moh_playing("conf-s1")

    await conference.close()
    assert await asyncio.wait_for(conference.closed, WAIT) == "closed"
    assert (await conference.caller.wait_ended(WAIT)).by is EndedBy.US
    with pytest.raises(NoSuchBridge):
        await telephony.client.get_bridge("conf-s1")


async def test_caller_who_does_not_answer_leaves_nothing_behind(telephony, pbx_state):
    with pytest.raises(CallerUnreachable) as refused:
        await Conference.open(telephony, "s2", "camp-7", "PJSIP/+15555550172@trunk")
    assert refused.value.cause == 17
    assert await pbx_state.bridges() == {} and await pbx_state.channels() == {}
    with pytest.raises(InvalidEndpoint):
        await Conference.open(telephony, "s2", "camp-7", "agent101")


async def test_caller_hanging_up_is_reported_and_the_conference_stays(telephony, far_end):
    conference = await Conference.open(telephony, "s3", "camp-7", "PJSIP/agent101")
    await far_end.hang_up(conference.caller.id)
    end = await conference.wait_caller_gone(WAIT)
    assert (end.by, end.cause) == (EndedBy.FAR_END, 16)
    assert not conference.closed.done()
    await conference.close()


async def test_dial_in_caller_is_adopted_and_labelled(telephony, pbx_state, far_end):
    entered = telephony.client.wait_for(lambda e: isinstance(e, StasisStart) and "inbound-1" in e.channel_ids, WAIT)
    await telephony.client.originate("PJSIP/agent102", channel_id="inbound-1", app_args=["inbound"])
    await entered
    conference = await Conference.dial_in(telephony, "s4", "camp-7", "inbound-1")
    assert list((await telephony.client.get_bridge("conf-s4")).channels) == ["inbound-1"]
    assert (await pbx_state.roles("inbound-1"))[ROLE] == "caller"
    await far_end.hang_up("inbound-1")
    assert (await conference.wait_caller_gone(WAIT)).by is EndedBy.FAR_END
    await conference.close()


async def test_a_left_over_bridge_of_the_same_session_is_replaced(telephony):
    await telephony.client.create_bridge("conf-s5")
    conference = await Conference.open(telephony, "s5", "camp-7", "PJSIP/agent101")
    assert list((await telephony.client.get_bridge("conf-s5")).channels) == [conference.caller.id]
    await conference.close()


async def test_asterisks_own_music_channel_does_not_count_as_company(telephony, pbx_state):
    # Asterisk plays bridge MOH through an "Announcer/ARI-MOH" channel that enters the
    # bridge; the simulator has none, so its event is fed in as Asterisk would send it.
    conference = await Conference.open(telephony, "s6", "camp-7", "PJSIP/agent101")
    bridge = await telephony.client.get_bridge("conf-s6")
    announcer = {"id": "1764000000.42", "name": "Announcer/ARI-MOH-00000001;1", "state": "Up"}
    conference._on_event(decode_event({
        "type": "ChannelEnteredBridge", "timestamp": "2026-11-26T14:31:50.091+0000",
        "bridge": {"id": bridge.id, "channels": [*bridge.channels, announcer["id"]]}, "channel": announcer}))
    assert conference.caller_alone
    assert pbx_state.moh_playing("conf-s6")
    await conference.close()


async def test_caller_hanging_up_with_a_lead_connected_leaves_the_lead_in_the_conference(telephony, call, pbx_state,
                                                                                       far_end):
    conference, lead = call
    await far_end.hang_up(conference.caller.id)
    assert (await conference.wait_caller_gone(WAIT)).by is EndedBy.FAR_END
    assert await pbx_state.members("conf-s1") == {lead.id}
    assert not lead.ended.done() and not pbx_state.moh_playing("conf-s1")  # no hold music for the lead
    await far_end.hang_up(lead.id)
    assert (await lead.wait_ended(WAIT)).by is EndedBy.FAR_END
    await conference.close()
    assert await pbx_state.bridges() == {} and await pbx_state.channels() == {}
