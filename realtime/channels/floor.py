"""The live floor on a web process: each account's campaigns and caller sessions, kept from
the engines' floor messages (:mod:`realtime.callflow.floor`) and pushed to supervisors as
numbered events.

Per account this process keeps the floor as it is now (for a console that connects: the
``floor`` event) and a stream of changes, numbered from 1 (``seq``) and kept for resync:
``session_updated``, ``session_ended``, ``campaign_updated``, ``campaign_removed``,
``monitoring_changed``, ``phone_changed``, ``recording_changed``. Changes are coalesced
once more here, so a console gets at most :data:`PUSH_SECONDS` worth of pushes a second
whatever the floor's size: a session that changed five times since the last push goes
out once, as it is now; a quiet floor's first change goes out at once.

The stream is this process's: its id (``stream``) comes with the ``floor`` event, and a
console that reconnects to another process (or after this one restarted) gets a new
``floor``. An engine that stops sending its periodic full message is taken for gone: what
it held leaves the floor (the engine that takes its campaigns over reports them anew).
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.bus import Bus, Message, Subscription
from realtime.callflow.actions import ACCOUNT_CHANGED
from realtime.callflow.event_log import now_iso
from realtime.callflow.floor import FLOOR, FULL_SECONDS

logger = logging.getLogger(__name__)

PUSH_SECONDS = 0.25  # at most four pushes a second per account
KEEP = 1000  # events kept per account for resync
STALE_SECONDS = 3 * FULL_SECONDS  # an engine silent this long is gone

FloorEvent = dict[str, Any]  # {"event": name, "data": {..., seq, at}}
Push = Callable[[int, list[FloorEvent]], Awaitable[None]]


@dataclasses.dataclass(eq=False)
class AccountFloor:
    account_id: int
    stream: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:12])
    sessions: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    campaigns: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    session_engine: dict[int, str] = dataclasses.field(default_factory=dict)
    campaign_engine: dict[int, str] = dataclasses.field(default_factory=dict)
    seq: int = 0
    log: collections.deque[FloorEvent] = dataclasses.field(default_factory=lambda: collections.deque(maxlen=KEEP))
    # Changes waiting for the next push; the latest of each session and campaign wins.
    ended: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    updated: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    campaigns_updated: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    campaigns_removed: set[int] = dataclasses.field(default_factory=set)
    others: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    last_push: float = -PUSH_SECONDS
    scheduled: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return bool(self.ended or self.updated or self.campaigns_updated or self.campaigns_removed or self.others)

    def snapshot(self) -> dict[str, Any]:
        return {"stream": self.stream,
                "campaigns": [self.campaigns[c] for c in sorted(self.campaigns)],
                "sessions": [self.sessions[s] for s in sorted(self.sessions)]}

    def monitoring_of(self, user_id: int) -> int | None:
        for session_id, row in self.sessions.items():
            if any(m["supervisor"]["id"] == user_id for m in row.get("monitors") or ()):
                return session_id
        return None


class FloorBoard:
    """Every account's floor on this web process; ``push(account_id, events)`` gets the
    numbered changes (the ``/monitor`` namespace hands them to its sockets)."""

    def __init__(self, bus: Bus, *, push_seconds: float = PUSH_SECONDS, stale_seconds: float = STALE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self.push_seconds = push_seconds
        self.stale_seconds = stale_seconds
        self.clock = clock
        self.floors: dict[int, AccountFloor] = {}
        self.engines: dict[str, float] = {}  # engine id -> when its last full message came
        self.push: Push | None = None
        self.watched: Callable[[int], bool] = lambda account_id: True
        self.monitoring_news: Callable[[int], None] = lambda user_id: None
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._subscriptions = [await self.bus.subscribe(FLOOR, self._on_floor),
                               await self.bus.subscribe(ACCOUNT_CHANGED, self._on_account)]
        self._reaper = asyncio.get_running_loop().create_task(self._drop_silent_engines(), name="floor-reaper")

    async def close(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        for floor in self.floors.values():
            if floor.scheduled is not None:
                floor.scheduled.cancel()
        tasks = [*self._tasks, *([self._reaper] if self._reaper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def floor(self, account_id: int) -> AccountFloor:
        floor = self.floors.get(account_id)
        if floor is None:
            floor = self.floors[account_id] = AccountFloor(account_id)
        return floor

    def since(self, account_id: int, stream: Any, last_seq: Any) -> list[FloorEvent] | None:
        """The events after ``last_seq`` of this process's stream, in order; None when the
        console needs a new ``floor`` (another stream, or older than what is kept)."""
        floor = self.floor(account_id)
        if stream != floor.stream or isinstance(last_seq, bool) or not isinstance(last_seq, int) \
                or not 0 <= last_seq <= floor.seq:
            return None
        if last_seq == floor.seq:
            return []
        if not floor.log or floor.log[0]["data"]["seq"] > last_seq + 1:
            return None
        return [event for event in floor.log if event["data"]["seq"] > last_seq]

    def monitoring_of(self, account_id: int, user_id: int) -> int | None:
        return self.floor(account_id).monitoring_of(user_id)

    # -- from the engines ---------------------------------------------------------------------
    async def _on_floor(self, topic: str, message: Message) -> None:
        account_id, engine = message.get("account_id"), message.get("engine_id")
        if not isinstance(account_id, int) or not isinstance(engine, str):
            return
        floor = self.floor(account_id)
        full = message.get("full") is True
        if full:
            self.engines[engine] = self.clock()
        else:
            self.engines.setdefault(engine, self.clock())
        rows = [row for row in message.get("sessions") or () if isinstance(row, dict)]
        if full:
            listed = {row.get("session_id") for row in rows}
            for session_id in [s for s, e in floor.session_engine.items() if e == engine and s not in listed]:
                self._session_gone(floor, session_id, None)
        for row in rows:
            session_id = row.get("session_id")
            if not isinstance(session_id, int):
                continue
            floor.session_engine[session_id] = engine
            if floor.sessions.get(session_id) != row:
                floor.sessions[session_id] = row
                floor.updated[session_id] = row
                for monitor in row.get("monitors") or ():
                    self.monitoring_news(monitor["supervisor"]["id"])
        for ended in message.get("ended") or ():
            if isinstance(ended, dict) and isinstance(ended.get("session_id"), int):
                self._session_gone(floor, ended["session_id"], ended.get("reason"))
        campaigns = [row for row in message.get("campaigns") or () if isinstance(row, dict)]
        if full:
            listed = {row.get("campaign_id") for row in campaigns}
            for campaign_id in [c for c, e in floor.campaign_engine.items() if e == engine and c not in listed]:
                self._campaign_gone(floor, campaign_id)
        for row in campaigns:
            campaign_id = row.get("campaign_id")
            if not isinstance(campaign_id, int):
                continue
            floor.campaign_engine[campaign_id] = engine
            floor.campaigns_removed.discard(campaign_id)
            if floor.campaigns.get(campaign_id) != row:
                floor.campaigns[campaign_id] = row
                floor.campaigns_updated[campaign_id] = row
        for change in message.get("monitoring") or ():
            if isinstance(change, dict):
                floor.others.append(("monitoring_changed", {k: change.get(k) for k in (
                    "session_id", "supervisor", "mode", "reason")}))
                supervisor = change.get("supervisor")
                if isinstance(supervisor, dict):
                    self.monitoring_news(supervisor.get("id"))
        for change in message.get("phones") or ():
            if isinstance(change, dict):
                floor.others.append(("phone_changed", {k: change.get(k) for k in ("supervisor", "connected")}))
        self._schedule(floor)

    async def _on_account(self, topic: str, message: Message) -> None:
        account_id = message.get("account_id")
        if isinstance(account_id, int) and isinstance(message.get("recording"), bool):
            floor = self.floor(account_id)
            floor.others.append(("recording_changed", {"enabled": message["recording"]}))
            self._schedule(floor)

    def _session_gone(self, floor: AccountFloor, session_id: int, reason: Any) -> None:
        floor.session_engine.pop(session_id, None)
        floor.updated.pop(session_id, None)
        if floor.sessions.pop(session_id, None) is not None:
            floor.ended[session_id] = {"session_id": session_id, "reason": reason}

    def _campaign_gone(self, floor: AccountFloor, campaign_id: int) -> None:
        floor.campaign_engine.pop(campaign_id, None)
        floor.campaigns_updated.pop(campaign_id, None)
        if floor.campaigns.pop(campaign_id, None) is not None:
            floor.campaigns_removed.add(campaign_id)

    async def _drop_silent_engines(self) -> None:
        while True:
            await asyncio.sleep(min(FULL_SECONDS, self.stale_seconds / 3))
            now = self.clock()
            for engine in [e for e, seen in self.engines.items() if now - seen > self.stale_seconds]:
                logger.warning("engine %s sent no floor for %.0f s: what it held leaves the floor", engine,
                               now - self.engines[engine])
                del self.engines[engine]
                for floor in self.floors.values():
                    for session_id in [s for s, e in floor.session_engine.items() if e == engine]:
                        self._session_gone(floor, session_id, None)
                    for campaign_id in [c for c, e in floor.campaign_engine.items() if e == engine]:
                        self._campaign_gone(floor, campaign_id)
                    self._schedule(floor)

    # -- to the consoles ----------------------------------------------------------------------
    def _schedule(self, floor: AccountFloor) -> None:
        if floor.scheduled is not None or not floor.pending:
            return
        delay = max(0.0, floor.last_push + self.push_seconds - self.clock())
        loop = asyncio.get_running_loop()
        floor.scheduled = loop.call_later(delay, self._start_push, floor)

    def _start_push(self, floor: AccountFloor) -> None:
        task = asyncio.get_running_loop().create_task(self._push(floor), name=f"floor-push-{floor.account_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, floor: AccountFloor) -> None:
        try:
            floor.last_push = self.clock()
            changes: list[tuple[str, dict[str, Any]]] = []
            changes += [("session_ended", ended) for ended in floor.ended.values()]
            changes += [("session_updated", {"session": row}) for row in floor.updated.values()]
            changes += [("campaign_updated", {"campaign": row}) for row in floor.campaigns_updated.values()]
            changes += [("campaign_removed", {"campaign_id": c}) for c in sorted(floor.campaigns_removed)]
            changes += floor.others
            floor.ended, floor.updated, floor.campaigns_updated = {}, {}, {}
            floor.campaigns_removed, floor.others = set(), []
            if not self.watched(floor.account_id):
                # Nobody to tell: the stream moves on without them, so a console that comes
                # back asking for these gets a new floor, never a gap.
                floor.seq += 1
                floor.log.clear()
                return
            at = now_iso()
            pushed = []
            for name, data in changes:
                floor.seq += 1
                event = {"event": name, "data": {**data, "seq": floor.seq, "at": at}}
                floor.log.append(event)
                pushed.append(event)
            if self.push is not None:
                await self.push(floor.account_id, pushed)
        except Exception:
            logger.exception("floor of account %s not pushed", floor.account_id)
        finally:
            floor.scheduled = None
            self._schedule(floor)  # what came meanwhile
