"""The floor on a web process, fed over a real (memory) bus as the engines feed it: coalesced
pushes, numbered for resync, and nothing kept of a session or an engine that is gone."""
from __future__ import annotations

import asyncio

import pytest

from realtime.bus import MemoryBus
from realtime.callflow.floor import FLOOR
from realtime.channels.floor import FloorBoard


def row(session_id: int, state: str, **extra) -> dict:
    return {"session_id": session_id, "caller": {"id": session_id, "name": "C", "username": "c"}, "campaign_id": 1,
            "state": state, "since": "2026-12-04T15:00:00.000Z", "lead_phone": None, "monitors": [], **extra}


def message(engine: str = "e1", *, full: bool = False, sessions=(), ended=(), campaigns=()) -> dict:
    return {"engine_id": engine, "account_id": 7, "at": "2026-12-04T15:00:00.000Z", "full": full,
            "sessions": list(sessions), "ended": list(ended), "campaigns": list(campaigns), "monitoring": [],
            "phones": []}


@pytest.fixture
async def board():
    bus = MemoryBus()
    await bus.start()
    board = FloorBoard(bus, push_seconds=0.25, stale_seconds=0.6)
    board.pushes = []
    arrived = asyncio.Condition()

    async def push(account_id: int, events: list) -> None:
        async with arrived:
            board.pushes.append(events)
            arrived.notify_all()

    async def pushed(predicate, timeout: float = 5.0) -> None:
        async def wait() -> None:
            async with arrived:
                await arrived.wait_for(lambda: predicate(board.pushes))
        await asyncio.wait_for(wait(), timeout)

    board.push = push
    board.pushed = pushed
    await board.start()
    yield board
    await board.close()
    await bus.close()


async def test_a_burst_of_changes_reaches_consoles_in_at_most_two_pushes_with_the_latest_state(board):
    states = ["on_hold", "on_call", "wrap_up"] * 40
    for state in states:
        await board.bus.publish(FLOOR, message(sessions=[row(1, state)]))
    await board.pushed(lambda pushes: any(e["data"].get("session", {}).get("state") == "wrap_up"
                                          for events in pushes[-1:] for e in events))
    updates = [e for events in board.pushes for e in events if e["event"] == "session_updated"]
    assert len(board.pushes) <= 2 and len(updates) <= 2, "120 changes coalesced into at most two pushes"
    assert updates[-1]["data"]["session"]["state"] == "wrap_up"  # the latest wins
    assert [e["data"]["seq"] for events in board.pushes for e in events] == list(range(1, len(updates) + 1))


async def test_pushes_are_spaced_and_numbered_for_resync(board):
    await board.bus.publish(FLOOR, message(sessions=[row(1, "on_hold")]))
    await board.pushed(lambda pushes: len(pushes) == 1)
    first = asyncio.get_running_loop().time()
    await board.bus.publish(FLOOR, message(sessions=[row(1, "on_call")]))
    await board.pushed(lambda pushes: len(pushes) == 2)
    assert asyncio.get_running_loop().time() - first >= 0.2  # no sooner than the push interval allows
    floor = board.floor(7)
    assert board.since(7, floor.stream, 0) == [board.pushes[0][0], board.pushes[1][0]]
    assert board.since(7, floor.stream, 1) == [board.pushes[1][0]]
    assert board.since(7, floor.stream, 2) == []
    assert board.since(7, "another-stream", 1) is None and board.since(7, floor.stream, 3) is None


async def test_a_full_message_drops_what_its_engine_no_longer_holds_and_a_silent_engine_is_forgotten(board):
    campaign = {"campaign_id": 1, "name": "X"}
    await board.bus.publish(FLOOR, message(sessions=[row(1, "on_hold"), row(2, "on_call")], campaigns=[campaign]))
    await board.bus.publish(FLOOR, message("e2", full=True, sessions=[row(3, "on_call")]))
    await board.pushed(lambda pushes: set(board.floor(7).sessions) == {1, 2, 3})
    await board.bus.publish(FLOOR, message(full=True, sessions=[row(2, "on_call")], campaigns=[campaign]))
    await board.pushed(lambda pushes: any(e["event"] == "session_ended" and e["data"]["session_id"] == 1
                                          for events in pushes for e in events))
    assert set(board.floor(7).sessions) == {2, 3}
    # e1 keeps sending full messages; e2 falls silent and what it held leaves the floor.
    for _ in range(6):
        await board.bus.publish(FLOOR, message(full=True, sessions=[row(2, "on_call")], campaigns=[campaign]))
        await asyncio.sleep(0.2)  # an engine's rhythm, which is what is tested here
    assert set(board.floor(7).sessions) == {2}
    assert set(board.floor(7).campaigns) == {1}
    ended = [e["data"] for events in board.pushes for e in events if e["event"] == "session_ended"]
    assert {"session_id": 3, "reason": None, "seq": ended[-1]["seq"], "at": ended[-1]["at"]} in ended


async def test_a_campaign_no_longer_worked_leaves_the_floor(board):
    campaign = {"campaign_id": 1, "name": "X", "callers": {"on_call": 1}}
    await board.bus.publish(FLOOR, message(full=True, sessions=[row(1, "on_call")], campaigns=[campaign]))
    await board.pushed(lambda pushes: 1 in board.floor(7).campaigns)
    await board.bus.publish(FLOOR, message(ended=[{"session_id": 1, "campaign_id": 1, "reason": "stopped"}]))
    await board.bus.publish(FLOOR, message(full=True))  # the engine dials it no more
    await board.pushed(lambda pushes: any(e["event"] == "campaign_removed" for events in pushes for e in events))
    events = [(e["event"], e["data"]) for events in board.pushes for e in events]
    assert ("session_ended", {"session_id": 1, "reason": "stopped", "seq": 3, "at": events[2][1]["at"]}) in events
    assert [data["campaign_id"] for name, data in events if name == "campaign_removed"] == [1]
    assert board.floor(7).snapshot()["campaigns"] == [] and board.floor(7).snapshot()["sessions"] == []
