"""Each caller session's events, numbered and kept, so a reconnecting page misses nothing.

The engine that owns a session is its only writer: :meth:`EventLog.append` gives the
event the next ``seq`` and keeps it; the web processes read the log when a socket
resyncs (:meth:`EventLog.since`). The log is bounded: a page that fell further behind
than it keeps gets a ``snapshot`` instead (``since`` answers None).

In one process the log lives in memory; with Redis it lives in Redis, where every web
process can read it and an engine taking over a session carries its numbering on.
"""
from __future__ import annotations

import abc
import collections
import functools
import json
import logging
import time
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEEP = 1000  # events kept per session
TTL_SECONDS = 24 * 3600  # an idle session's log is forgotten after a day

Event = dict[str, Any]  # {"event": name, "data": {..., seq, at, session_id}}


class EventLogUnavailable(Exception):
    error_id = "event-log-unavailable"


def stamp(session_id: int, name: str, payload: dict[str, Any], seq: int, at: str) -> Event:
    return {"event": name, "data": {**payload, "seq": seq, "at": at, "session_id": session_id}}


def now_iso() -> str:
    return iso_at(time.time())


def iso_at(epoch: float) -> str:
    """``2026-12-04T18:25:29.123Z`` (UTC, milliseconds) for a Unix time. Every event and
    floor row is stamped, so the seconds are formatted once per second, not per stamp."""
    second = int(epoch)
    micros = round((epoch - second) * 1e6)  # rounded to microseconds as datetime does
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    return f"{_second_iso(second)}.{micros // 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _second_iso(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


class EventLog(abc.ABC):
    keep: int = KEEP

    @abc.abstractmethod
    async def append(self, session_id: int, name: str, payload: dict[str, Any]) -> Event:
        """Number the event, keep it, and return it stamped with ``seq``, ``at``, ``session_id``."""

    async def append_many(self, events: list[tuple[int, str, dict[str, Any]]]) -> list[Event]:
        """:meth:`append` for several ``(session_id, name, payload)`` at once, in order, all
        or none; one round trip where the backend has them."""
        return [await self.append(*event) for event in events]

    @abc.abstractmethod
    async def since(self, session_id: int, last_seq: int) -> list[Event] | None:
        """The events after ``last_seq`` in order; None when some of them are no longer kept
        (or ``last_seq`` is from a log that no longer exists): the reader needs a snapshot."""

    @abc.abstractmethod
    async def last_seq(self, session_id: int) -> int:
        """The last number given in this session (0: none yet)."""

    async def forget(self, session_id: int) -> None:
        """The session is long over: its events need not be kept (Redis lets them expire)."""

    async def close(self) -> None:
        pass

    @staticmethod
    def _after(kept: list[Event], last_seq: int, latest: int) -> list[Event] | None:
        if last_seq > latest:
            return None
        if last_seq == latest:
            return []
        if not kept or kept[0]["data"]["seq"] > last_seq + 1:
            return None
        return [event for event in kept if event["data"]["seq"] > last_seq]


class MemoryEventLog(EventLog):
    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._events: dict[int, collections.deque[Event]] = {}
        self._seq: dict[int, int] = {}

    async def append(self, session_id: int, name: str, payload: dict[str, Any]) -> Event:
        seq = self._seq.get(session_id, 0) + 1
        self._seq[session_id] = seq
        event = stamp(session_id, name, payload, seq, now_iso())
        log = self._events.get(session_id)
        if log is None:
            log = self._events[session_id] = collections.deque(maxlen=self.keep)
        log.append(event)
        return event

    async def since(self, session_id: int, last_seq: int) -> list[Event] | None:
        return self._after(list(self._events.get(session_id, ())), last_seq, self._seq.get(session_id, 0))

    async def last_seq(self, session_id: int) -> int:
        return self._seq.get(session_id, 0)

    async def forget(self, session_id: int) -> None:
        self._events.pop(session_id, None)
        self._seq.pop(session_id, None)


# One round trip per event: number it, keep it, trim, refresh the expiry.
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return seq
"""


class RedisEventLog(EventLog):
    """Per session a counter ``<prefix><id>:seq`` and a list ``<prefix><id>`` of
    ``"<seq> <json without seq>"`` entries, trimmed to ``keep``."""

    def __init__(self, url: str, *, prefix: str = "realtime:events:", keep: int = KEEP,
                 timeout: float = 2.0) -> None:
        self.keep = keep
        self._prefix = prefix
        self._client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._append = self._client.register_script(_APPEND)

    async def append(self, session_id: int, name: str, payload: dict[str, Any]) -> Event:
        at = now_iso()
        body = json.dumps({"event": name, "data": {**payload, "at": at, "session_id": session_id}},
                          separators=(",", ":"))
        key = f"{self._prefix}{session_id}"
        try:
            seq = int(await self._append(keys=[f"{key}:seq", key], args=[body, self.keep, TTL_SECONDS]))
        except (RedisError, OSError) as exc:
            raise EventLogUnavailable(f"the event log in Redis is unavailable: {exc}") from exc
        return stamp(session_id, name, payload, seq, at)

    async def append_many(self, events: list[tuple[int, str, dict[str, Any]]]) -> list[Event]:
        # A busy floor's events in one MULTI/EXEC: one round trip instead of one per event.
        at = now_iso()
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for session_id, name, payload in events:
                    body = json.dumps({"event": name, "data": {**payload, "at": at, "session_id": session_id}},
                                      separators=(",", ":"))
                    key = f"{self._prefix}{session_id}"
                    await self._append(keys=[f"{key}:seq", key], args=[body, self.keep, TTL_SECONDS], client=pipe)
                seqs = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise EventLogUnavailable(f"the event log in Redis is unavailable: {exc}") from exc
        return [stamp(session_id, name, payload, int(seq), at) for (session_id, name, payload), seq in zip(events, seqs)]

    async def since(self, session_id: int, last_seq: int) -> list[Event] | None:
        key = f"{self._prefix}{session_id}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                latest, entries = await pipe.get(f"{key}:seq").lrange(key, 0, -1).execute()
        except (RedisError, OSError) as exc:
            raise EventLogUnavailable(f"the event log in Redis is unavailable: {exc}") from exc
        kept = []
        for entry in entries:
            seq, _, body = entry.partition(b" ")
            event = json.loads(body)
            event["data"]["seq"] = int(seq)
            kept.append(event)
        return self._after(kept, last_seq, int(latest or 0))

    async def last_seq(self, session_id: int) -> int:
        try:
            return int(await self._client.get(f"{self._prefix}{session_id}:seq") or 0)
        except (RedisError, OSError) as exc:
            raise EventLogUnavailable(f"the event log in Redis is unavailable: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()


def create_event_log(redis_url: str | None) -> EventLog:
    return RedisEventLog(redis_url) if redis_url else MemoryEventLog()
