"""A page that loses its connection misses nothing: it reconnects, says the last event it
has, and gets every later one in order, once - or a snapshot when they are too old."""
from __future__ import annotations

from realtime import app_keys
from realtime.store.models import DialerMode

from .floor import PERSON, add_caller, add_campaign, phone


def assert_gapless(seqs: list[int]) -> None:
    assert seqs == list(range(1, len(seqs) + 1)), seqs


async def test_a_reconnecting_page_gets_what_it_missed_in_order_and_once(product, floor, callers, far_end):
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [phone(PERSON), phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    connected = await caller.next("call_connected")
    await caller.state("on_call")
    seen = caller.last_seq

    await caller.sio.disconnect()  # the network drops; the session goes on without the page
    await far_end.hang_up(f"lead-{connected['call_id']}")

    await caller.connect(last_seq=seen)
    ended = await caller.next("call_ended", call_id=connected["call_id"])
    assert ended["seq"] == seen + 1 and ended["by"] == "lead"
    await caller.state("wrap_up")
    assert_gapless(caller.seqs())
    # The same session, not a new one.
    assert {data["session_id"] for _, data in caller.events} == {connected["session_id"]}


async def test_resync_replays_after_the_given_event_and_live_events_follow(product, floor, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON), phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = await callers(username).open()
    await caller.ok("start")
    await caller.next("lead_presented")
    ack = await caller.ok("resync", {"last_seq": 1})
    assert ack["replayed"] == caller.last_seq - 1 and ack["snapshot"] is False
    replayed = caller.events[-ack["replayed"]:]
    assert [data["seq"] for _, data in replayed] == list(range(2, ack["last_seq"] + 1))
    await caller.ok("skip")
    await caller.next("lead_presented")
    assert caller.events[-1][1]["seq"] == ack["last_seq"] + 1


async def test_a_gap_older_than_the_log_gets_a_snapshot(product, floor, callers):
    product.app[app_keys.EVENT_LOG].keep = 3
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON), phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = callers(username)
    await caller.sign_in()
    await caller.connect(last_seq=0)  # wants everything, but only the last 3 are kept
    await caller.ok("start")
    presented = await caller.next("lead_presented")
    await caller.sio.disconnect()
    await caller.connect(last_seq=1)
    snapshot = await caller.next("snapshot")
    assert snapshot["state"] == "previewing"
    assert snapshot["household"]["id"] == presented["household"]["id"]
    assert snapshot["campaign"]["dialer_mode"] == "preview" and snapshot["script"]["questions"]
    assert snapshot["seq"] == snapshot["last_seq"] >= presented["seq"]
    await caller.ok("skip")
    following = await caller.next("lead_presented")
    assert following["seq"] > snapshot["last_seq"]
