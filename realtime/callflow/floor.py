"""The live floor as one engine sees it, published for the supervisors' consoles.

Each engine publishes on :data:`FLOOR`, one message per account, what changed among the
caller sessions and campaigns it holds::

    {"engine_id", "account_id", "at", "full": bool,
     "sessions": [row, ...],            # as they are now (see session_row)
     "ended": [{"session_id", "campaign_id", "reason"}],
     "campaigns": [row, ...],           # see campaign_row
     "monitoring": [{"session_id", "supervisor": {id, name}, "mode", "reason"}],
     "phones": [{"supervisor": {id, name}, "connected": bool}]}

Changes are coalesced: a session that changes five times within a window goes out once,
as it is at its end (a quiet floor's first change goes out at once). Every
``full_seconds`` a ``full`` message lists everything the engine holds for the account,
so a web process that started late catches up and one whose engine died (no full
message for a while) drops what it showed of it. Campaign figures that change without a
session event (lines ringing, the pacer's decision) are looked at every second; the ones
read from the store (households left, abandonment) every few seconds.

The web side (:mod:`realtime.channels.floor`) keeps the floor per account and pushes it
to supervisors; the engine knows nothing of sockets.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from realtime.bus import BusError
from realtime.dialer.abandonment import abandonment
from realtime.dialer.queue import dialable
from realtime.store.models import Household
from realtime.store.types import utcnow

from .event_log import iso_at
from .states import State

if TYPE_CHECKING:
    from realtime.dialer.campaign_dialer import CampaignDialer

    from .engine import CallFlowEngine
    from .session import LiveSession
    from .supervision import SupervisorInfo

logger = logging.getLogger(__name__)

FLOOR = "monitor:floor"
FLUSH_SECONDS = 0.1  # at most ten messages a second per account from one engine
FULL_SECONDS = 5.0
CAMPAIGN_SECONDS = 1.0
STATS_SECONDS = 5.0
# Callers by state, as the floor counts them (every live state, zeros included).
LIVE_STATES = tuple(state.value for state in State if state is not State.ENDED)
# States in which the session has a household in front of it.
_WITH_LEAD = (State.PREVIEWING, State.DIALING, State.ON_CALL, State.TRANSFER)


class FloorReporter:
    def __init__(self, engine: CallFlowEngine, *, flush_seconds: float = FLUSH_SECONDS,
                 full_seconds: float = FULL_SECONDS, stats_seconds: float = STATS_SECONDS) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.full_seconds = full_seconds
        self.stats_seconds = stats_seconds
        self._dirty: dict[int, LiveSession] = {}
        self._dirty_campaigns: set[int] = set()
        self._monitoring: list[tuple[int, dict[str, Any]]] = []
        self._phones: list[tuple[int, dict[str, Any]]] = []
        self._sent: dict[int, dict[str, Any]] = {}  # campaign -> the row last published
        self._stats: dict[int, dict[str, Any]] = {}  # campaign -> households_left, abandonment
        self._accounts: set[int] = set()  # accounts the last full message went to
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name="floor-reporter"),
                       loop.create_task(self._read_stats(), name="floor-stats")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what changed ---------------------------------------------------------------------------
    def touched(self, session: LiveSession) -> None:
        """The session changed (an event went out for it): its row goes out soon."""
        self._dirty[session.id] = session
        self._dirty_campaigns.add(session.campaign.id)
        self._wake.set()

    def monitoring_changed(self, session: LiveSession, supervisor: dict[str, Any], mode: str | None,
                           reason: str) -> None:
        self._monitoring.append((session.account_id, {"session_id": session.id, "supervisor": supervisor,
                                                      "mode": mode, "reason": reason}))
        self.touched(session)

    def phone_changed(self, supervisor: SupervisorInfo, connected: bool) -> None:
        self._phones.append((supervisor.account_id, {"supervisor": supervisor.json(), "connected": connected}))
        self._wake.set()

    # -- rows -------------------------------------------------------------------------------------
    def session_row(self, session: LiveSession, now: float, clock: float,
                    monitors: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
        """The row of a session; ``now`` is wall-clock (Unix) time, ``monitors`` as
        :meth:`Supervisors.monitors` has them."""
        phone = None
        if session.state in _WITH_LEAD and session.household is not None:
            phone = session.household.phone
        elif session.state is State.WRAP_UP and session.pending is not None:
            phone = session.pending.household.get("phone")
        return {
            "session_id": session.id, "caller": session.caller.json(), "campaign_id": session.campaign.id,
            "state": session.state.value, "since": iso_at(now - max(0.0, clock - session.state_since)),
            "lead_phone": phone, "monitors": monitors.get(session.id, []),
        }

    def campaign_row(self, dialer: CampaignDialer, callers: collections.Counter[str], now: float,
                     clock: float) -> dict[str, Any]:
        campaign = dialer.campaign
        assert campaign is not None
        status = dialer.status()
        pacer = None
        decisions = dialer.pacer.decisions if dialer.pacer is not None else ()
        if decisions:
            latest = decisions[-1]
            pacer = {"lines_to_dial": latest.lines_to_dial, "reason": latest.reason,
                     "at": iso_at(now - max(0.0, clock - latest.at))}
        stats = self._stats.get(campaign.id, {})
        return {
            "campaign_id": campaign.id, "name": campaign.name, "dialer_mode": campaign.dialer_mode.value,
            "callers": {state: callers.get(state, 0) for state in LIVE_STATES},
            "lines_ringing": status["lines"], "households_left": stats.get("households_left"),
            "abandonment": stats.get("abandonment"), "pacer": pacer,
        }

    # -- publishing -------------------------------------------------------------------------------
    async def _run(self) -> None:
        clock = self.engine.clock
        last_full = last_campaigns = -math.inf
        while True:
            wait = max(0.0, min(last_full + self.full_seconds, last_campaigns + CAMPAIGN_SECONDS) - clock())
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()
            now = clock()
            full = now - last_full >= self.full_seconds
            every_campaign = full or now - last_campaigns >= CAMPAIGN_SECONDS
            if full:
                last_full = now
            if every_campaign:
                last_campaigns = now
            try:
                await self.flush(full=full, every_campaign=every_campaign)
            except Exception:
                logger.exception("the floor was not published")
            await asyncio.sleep(self.flush_seconds)  # what changes meanwhile goes out together

    async def flush(self, *, full: bool = False, every_campaign: bool = False) -> None:
        engine = self.engine
        dirty, self._dirty = self._dirty, {}
        dirty_campaigns, self._dirty_campaigns = self._dirty_campaigns, set()
        monitoring, self._monitoring = self._monitoring, []
        phones, self._phones = self._phones, []
        now, clock = time.time(), engine.clock()
        messages: dict[int, dict[str, Any]] = {}

        def message(account_id: int) -> dict[str, Any]:
            if account_id not in messages:
                messages[account_id] = {"engine_id": engine.engine_id, "account_id": account_id, "at": iso_at(now),
                                        "full": full, "sessions": [], "ended": [], "campaigns": [],
                                        "monitoring": [], "phones": []}
            return messages[account_id]

        live = [s for s in engine.sessions.values() if not s.ended]
        monitors = engine.supervisors.monitors()
        for session in (live if full else dirty.values()):
            if session.ended:
                message(session.account_id)["ended"].append(
                    {"session_id": session.id, "campaign_id": session.campaign.id, "reason": session.end_reason})
            else:
                message(session.account_id)["sessions"].append(self.session_row(session, now, clock, monitors))
        callers: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for session in live:
            callers[session.campaign.id][session.state.value] += 1
        for campaign_id, dialer in list(engine.dialers.items()):
            if dialer.campaign is None or not (every_campaign or campaign_id in dirty_campaigns):
                continue
            row = self.campaign_row(dialer, callers[campaign_id], now, clock)
            if full or row != self._sent.get(campaign_id):
                self._sent[campaign_id] = row
                message(dialer.campaign.account_id)["campaigns"].append(row)
        for account_id, change in monitoring:
            message(account_id)["monitoring"].append(change)
        for account_id, change in phones:
            message(account_id)["phones"].append(change)
        if full:
            # An account this engine no longer holds anything of hears so once.
            for account_id in self._accounts - set(messages):
                message(account_id)
            self._accounts = {a for a, m in messages.items() if m["sessions"] or m["campaigns"]}
            for campaign_id in set(self._sent) - set(engine.dialers):
                del self._sent[campaign_id]
        for body in messages.values():
            try:
                await engine.bus.publish(FLOOR, body)
            except BusError as exc:  # the next full message repairs what this one missed
                logger.warning("floor of account %s not published: %s", body["account_id"], exc)

    # -- figures from the store -------------------------------------------------------------------
    async def _read_stats(self) -> None:
        """Each campaign's figures from the store every ``stats_seconds`` (a campaign new
        to this engine at once)."""
        read_at: dict[int, float] = {}
        while True:
            now = self.engine.clock()
            for campaign_id, dialer in list(self.engine.dialers.items()):
                if dialer.campaign is None or now - read_at.get(campaign_id, -math.inf) < self.stats_seconds:
                    continue
                read_at[campaign_id] = now
                try:
                    stats = await self._campaign_stats(dialer)
                except Exception as exc:  # the store may be away a moment: the figures wait
                    logger.warning("floor figures of campaign %s not read: %s", campaign_id, exc)
                    continue
                if stats != self._stats.get(campaign_id):
                    self._stats[campaign_id] = stats
                    self._dirty_campaigns.add(campaign_id)
                    self._wake.set()
            for campaign_id in set(self._stats) - set(self.engine.dialers):
                del self._stats[campaign_id]
                read_at.pop(campaign_id, None)
            await asyncio.sleep(min(1.0, self.stats_seconds))

    async def _campaign_stats(self, dialer: CampaignDialer) -> dict[str, Any]:
        campaign = dialer.campaign
        assert campaign is not None
        store = self.engine.store
        async with store.sessions() as db:
            left = await db.scalar(select(func.count()).select_from(Household).where(dialable(campaign, utcnow())))
        report = await abandonment(store, campaign.id)
        return {"households_left": int(left or 0),
                "abandonment": {"limit": report.limit, "last_24_hours": report.last_24_hours.as_json(),
                                "last_30_days": report.last_30_days.as_json(), "over_limit": report.over_limit}}

    def abandonment_of(self, campaign_id: int) -> dict[str, Any] | None:
        """The latest abandonment figures read for a campaign (for /metrics)."""
        return self._stats.get(campaign_id, {}).get("abandonment")
