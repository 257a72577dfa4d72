"""Warm and cold transfers against the simulator: the transfer bridge, who is in it,
dropping either side, the caller leaving, and parties that do not answer."""
from __future__ import annotations

import asyncio

import pytest

from realtime.telephony import DialFailed, EndedBy, InvalidMode
from realtime.telephony.transfer import Transfer, TransferEnd, TransferKind

WAIT = 5.0


async def test_warm_transfer_is_three_way_and_either_side_can_drop(telephony, call, pbx_state):
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550102", "warm", transfer_id="t1")
    await asyncio.wait_for(transfer.connected, WAIT)
    party = transfer.party
    assert await pbx_state.members("xfer-t1") == {lead.id, party.id, conference.caller.id}
    assert await pbx_state.roles(party.id) == {
        "REALTIME_ROLE": "transfer", "REALTIME_SESSION": "s1", "REALTIME_CAMPAIGN": "camp-7", "REALTIME_CALL": "t1"}

    await transfer.drop_lead()
    assert (await lead.wait_ended(WAIT)).by is EndedBy.US
    assert not transfer.ended.done()  # the caller and the party still talk
    assert await pbx_state.members("xfer-t1") == {party.id, conference.caller.id}

    await transfer.leave()
    assert await asyncio.wait_for(transfer.ended, WAIT) is TransferEnd.COMPLETED
    assert (await party.wait_ended(WAIT)).by is EndedBy.US
    await conference.wait_alone(WAIT)
    assert "xfer-t1" not in await pbx_state.bridges()


async def test_warm_transfer_caller_leaves_lead_and_party_go_on(telephony, call, pbx_state, far_end):
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550102", TransferKind.WARM, transfer_id="t2")
    await asyncio.wait_for(transfer.connected, WAIT)
    await transfer.leave()
    await conference.wait_alone(WAIT)
    assert await pbx_state.members("xfer-t2") == {lead.id, transfer.party.id}
    await far_end.hang_up(transfer.party.id)
    assert await asyncio.wait_for(transfer.ended, WAIT) is TransferEnd.COMPLETED
    assert (await lead.wait_ended(WAIT)).by is EndedBy.US


async def test_cold_transfer_leaves_the_caller_in_wrap_up(telephony, call, pbx_state, far_end):
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550103", "cold", transfer_id="t3")
    await asyncio.wait_for(transfer.connected, WAIT)
    assert await pbx_state.members("xfer-t3") == {lead.id, transfer.party.id}
    await conference.wait_alone(WAIT)  # the caller is back on hold music, free for wrap-up
    await far_end.hang_up(lead.id)
    assert (await lead.wait_ended(WAIT)).by is EndedBy.FAR_END
    assert await asyncio.wait_for(transfer.ended, WAIT) is TransferEnd.COMPLETED
    assert (await transfer.party.wait_ended(WAIT)).by is EndedBy.US
    assert not conference.caller.ended.done()


async def test_unanswered_transfer_keeps_the_lead_with_the_caller(telephony, call, pbx_state):
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550172", "warm", transfer_id="t4")
    with pytest.raises(DialFailed) as failed:
        await asyncio.wait_for(transfer.connected, WAIT)
    assert failed.value.reason == "busy"
    assert await asyncio.wait_for(transfer.ended, WAIT) is TransferEnd.UNANSWERED
    assert await pbx_state.members("conf-s1") == {lead.id, conference.caller.id}


async def test_cancelled_while_ringing(telephony, call, pbx_state):
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550184", "cold", transfer_id="t5")
    await asyncio.wait_for(transfer.party.ringing, WAIT)
    await transfer.cancel()
    assert await asyncio.wait_for(transfer.ended, WAIT) is TransferEnd.CANCELLED
    assert await pbx_state.members("conf-s1") == {lead.id, conference.caller.id}
    with pytest.raises(InvalidMode):
        await Transfer.start(telephony, conference, lead, "+15555550102", "blind", transfer_id="t6")


async def test_lead_hanging_up_while_the_party_rings_cancels_the_transfer(telephony, call, pbx_state, far_end):
    conference, lead = call
    transfer = await Transfer.start(telephony, conference, lead, "+15555550184", "warm", transfer_id="t7")
    await asyncio.wait_for(transfer.party.ringing, WAIT)
    await far_end.hang_up(lead.id)
    assert await asyncio.wait_for(transfer.ended, WAIT) is TransferEnd.CANCELLED
    assert (await transfer.party.wait_ended(WAIT)).failure == "cancelled"
    await conference.wait_alone(WAIT)
