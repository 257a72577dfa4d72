"""Whole caller sessions through /caller: real Socket.IO clients, the simulator's far ends."""
from __future__ import annotations

from realtime.store.models import DialerMode

from .floor import PERSON, add_caller, add_campaign, phone


async def test_preview_caller_dials_talks_and_saves_results(product, floor, callers, far_end):
    number = phone(PERSON)
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [number])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()

    assert (await caller.ok("start"))["ok"]
    await caller.state("connecting")
    presented = await caller.next("lead_presented")
    assert presented["household"]["phone"] == number
    await caller.state("previewing")

    dial = await caller.ok("dial")
    connected = await caller.next("call_connected")
    assert connected["call_id"] == dial["call_id"]
    assert connected["household"]["leads"][0]["fields"]["first_name"] == "Lead0"
    await caller.state("on_call")
    await caller.ok("hangup")
    ended = await caller.next("call_ended")
    assert ended["status"] == "completed" and ended["by"] == "caller"
    await caller.state("wrap_up")
