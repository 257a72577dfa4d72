"""The per-session event log, in memory and in Redis: numbering, batches, trimming, and a
second engine carrying a session's numbering on."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from realtime.callflow.event_log import MemoryEventLog, RedisEventLog, iso_at


@pytest.fixture(params=["memory", "redis"])
async def make_log(request):
    logs = []
    prefix = f"test:events:{uuid.uuid4().hex}:"

    def make(keep: int = 1000):
        if request.param == "memory":
            log = logs[0] if logs else MemoryEventLog(keep=keep)
        else:
            log = RedisEventLog(request.getfixturevalue("redis_url"), prefix=prefix, keep=keep)
        logs.append(log)
        return log

    yield make
    for log in {id(log): log for log in logs}.values():
        await log.close()


async def test_a_batch_is_numbered_per_session_in_order(make_log):
    log = make_log()
    await log.append(1, "session_started", {})
    events = await log.append_many([(1, "call_ringing", {"n": 1}), (2, "call_ringing", {"n": 2}),
                                    (1, "call_connected", {"n": 3})])
    assert [(e["event"], e["data"]["session_id"], e["data"]["seq"], e["data"]["n"]) for e in events] == [
        ("call_ringing", 1, 2, 1), ("call_ringing", 2, 1, 2), ("call_connected", 1, 3, 3)]
    assert [e["data"]["seq"] for e in await log.since(1, 0)] == [1, 2, 3]
    assert [e["event"] for e in await log.since(1, 1)] == ["call_ringing", "call_connected"]
    assert await log.since(2, 1) == []
    assert await log.last_seq(2) == 1


async def test_a_page_further_behind_than_the_log_keeps_needs_a_snapshot(make_log):
    log = make_log(keep=3)
    await log.append_many([(7, "call_ringing", {"n": n}) for n in range(5)])
    assert await log.since(7, 0) is None  # events 1 and 2 are gone
    assert [e["data"]["n"] for e in await log.since(7, 2)] == [2, 3, 4]
    assert await log.since(7, 9) is None  # a number this log never gave


async def test_another_engine_carries_the_numbering_on(make_log):
    first = make_log()
    await first.append_many([(3, "session_started", {}), (3, "call_ringing", {})])
    second = make_log()  # in Redis: a second engine's log; in memory: the same process
    [event] = await second.append_many([(3, "call_connected", {})])
    assert event["data"]["seq"] == 3
    assert [e["event"] for e in await first.since(3, 1)] == ["call_ringing", "call_connected"]


def test_stamps_read_as_datetime_writes_them():
    for at in (0.0, 1_733_336_729.0, 1_733_336_729.0005, 1_733_336_729.9999996, 1_050_259_594.685):
        expected = dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="milliseconds")
        assert iso_at(at) == expected.replace("+00:00", "Z")
