"""The dialer of one campaign on one engine: callers in, lines out, answered calls handed over.

The caller flow drives it with a small interface and implements :class:`CallerPort`::

    dialer = CampaignDialer(campaign_id, queue=queue, telephony=telephony, port=port,
                            engine_id="engine-1")
    await dialer.start()
    dialer.caller_free(session_id)            # in the conference, waiting for a call
    ...                                       # port.connect(session_id, call) -> bool
    await dialer.wrap_up(call.call_id, retry=False)   # results saved: the household's fate
    dialer.caller_free(session_id)            # ready for the next one

Preview is pulled by the caller (``preview`` / ``dial_preview`` / ``skip_preview``); power
and predictive dial from a tick loop, woken at once when a caller becomes free. A
human-answered line goes to the caller who has waited longest; with nobody free it is
abandoned legally (the safe-harbor message at once, then hang-up). Live lines are the
telephony legs themselves, never a counter.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from realtime.dialer.abandonment import AbandonmentRate, abandonment_rates
from realtime.dialer.calling_hours import CallingHours
from realtime.dialer.pacing import BusyCaller, FloorSnapshot, LineOutcome, PacingController, PacingLimits
from realtime.dialer.queue import DialQueue, DialRefused, ReservedHousehold, record_outcome_in
from realtime.store.models import CallStatus, Campaign, DialerMode, HouseholdStatus, Recording
from realtime.store.types import utcnow
from realtime.telephony import DialFailed, EndedBy, LeadLeg, Telephony, TelephonyError, Verdict, dial_lead
from realtime.telephony.ari import AriError

logger = logging.getLogger(__name__)

# Why an unanswered line failed (telephony's words) -> the call's outcome.
FAILURES = {"busy": CallStatus.BUSY, "no-answer": CallStatus.NO_ANSWER, "cancelled": CallStatus.NO_ANSWER,
            "lost": CallStatus.NO_ANSWER}  # everything else (congestion, unreachable...) is FAILED
REFRESH_SECONDS = 30.0  # how often the campaign's settings are read again
DIALS_AT_ONCE = 16  # lines being recorded and originated at the same time, at most
# A reservation this old was left by an engine that died (lines are dialled within moments
# of being reserved) or by a preview nobody acted on.
STALE_RESERVATION = dt.timedelta(minutes=15)
# An attempt is on record just before its line is originated; older than this with no
# channel in Asterisk, the engine that dialled it is gone.
LOST_CALL_AGE = dt.timedelta(minutes=1)


Results = Callable[[AsyncSession], Awaitable[None]]
"""Writes a call's survey results inside the transaction that settles its household."""


class DialerError(Exception):
    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


class CallerPort(Protocol):
    """What the caller flow does for the dialer."""

    async def connect(self, session_id: int, call: LiveCall) -> bool:
        """Put the answered lead into the caller's conference; False if the caller cannot
        take it after all (the dialer then tries the next caller, or abandons)."""

    async def calling_window(self, campaign_id: int, closes_at: dt.datetime | None,
                             opens_at: dt.datetime | None) -> None:
        """The calling window opened (``closes_at`` says until when) or closed
        (``opens_at`` says when it opens next, None if never): tell the callers."""

    async def out_of_leads(self, campaign_id: int) -> None:
        """Predictive: callers wait, nothing is left to dial now and no line is live."""


@dataclasses.dataclass(eq=False)
class LiveCall:
    call_id: str
    attempt_id: int
    household: ReservedHousehold
    dialled_at: float  # the dialer's clock
    leg: LeadLeg | None = None
    session_id: int | None = None  # the caller it is (or, in preview, will be) for
    verdict: Verdict | None = None
    routed: bool = False  # answered and handed over, or resolved: no longer needs a caller
    outcome: CallStatus | None = None
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    @property
    def lead_id(self) -> int | None:
        return self.household.leads[0].id if self.household.leads else None


class CampaignDialer:
    def __init__(
        self,
        campaign_id: int,
        *,
        queue: DialQueue,
        telephony: Telephony,
        port: CallerPort,
        engine_id: str,
        tick_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        trunk_lines: int | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.queue = queue
        self.telephony = telephony
        self.port = port
        self.holder = f"{engine_id}:campaign-{campaign_id}"
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.trunk_lines = trunk_lines  # the operator's REALTIME_TRUNK_LINES: a cap on lines at once
        self.campaign: Campaign | None = None
        self.pacer: PacingController | None = None
        self.calls: dict[str, LiveCall] = {}
        self._waiting: collections.OrderedDict[int, float] = collections.OrderedDict()
        self._busy: dict[int, tuple[bool, float]] = {}  # session -> (wrapping up, since)
        self._previews: dict[int, ReservedHousehold] = {}
        self._reserved: set[int] = set()  # households reserved for a line, not yet dialled
        self._listeners: list[Callable[[LiveCall], object]] = []
        self._line_listeners: list[Callable[[LiveCall], object]] = []
        self._wake = asyncio.Event()
        self._dialing = asyncio.Semaphore(DIALS_AT_ONCE)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._loaded_at = -REFRESH_SECONDS
        self._window_open: bool | None = None
        self._abandonment = (AbandonmentRate(0, 0), AbandonmentRate(0, 0))  # 30 days, 24 hours
        self._abandonment_at = -REFRESH_SECONDS

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        await self._load()
        # Lines this engine reserved before a restart were never dialled: give them back.
        await self.queue.release(holder=self.holder)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"dialer-{self.campaign_id}")

    async def stop(self, *, grace: float = 5.0, keep_connected: bool = False) -> None:
        """Stop dialling, hang up the lines still live and put their outcomes on record.

        ``keep_connected`` leaves conversations with a caller up (the engine is handing
        them to the next one, which adopts them); only lines still ringing or unrouted
        are hung up."""
        if self._task is not None:
            # Let the loop finish its tick: cancelled inside a transaction, a task could
            # leave the store locked.
            self._stopping = True
            self._wake.set()
            await asyncio.wait([self._task], timeout=grace)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # Hang up what is live, including lines still being dialled as we stop, and let the
        # calls finish recording their outcomes (the same reason as above).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        hung_up: set[str] = set()
        kept = {call.call_id for call in self.calls.values() if keep_connected and call.session_id is not None
                and call.leg is not None and call.leg.connected_at is not None}
        while self._tasks and loop.time() < deadline:
            pending = [call for call in self.calls.values() if call.leg is not None and not call.done.is_set()
                       and call.call_id not in kept]
            if not pending and keep_connected:
                break
            for call in pending:
                if call.call_id not in hung_up:
                    hung_up.add(call.call_id)
                    await call.leg.hangup()
            await asyncio.wait(list(self._tasks), timeout=min(0.2, max(0.0, deadline - loop.time())))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session_id in list(self._previews):
            await self._release_preview(session_id)
        await self.queue.release(holder=self.holder)

    def reload(self) -> None:
        """The campaign was edited: read its settings (calling hours, lines...) at once."""
        self._loaded_at = -REFRESH_SECONDS
        self._wake.set()

    @property
    def mode(self) -> DialerMode:
        assert self.campaign is not None, "start() the dialer first"
        return self.campaign.dialer_mode

    # -- callers -------------------------------------------------------------------
    def caller_free(self, session_id: int) -> None:
        """The caller waits for a call (after log-in, or after wrap-up)."""
        now = self.clock()
        state = self._busy.pop(session_id, None)
        if state is not None and state[0] and self.pacer is not None:
            self.pacer.observe_wrap_up(now - state[1])
        if session_id not in self._waiting:
            self._waiting[session_id] = now
        self._wake.set()

    def caller_busy(self, session_id: int, *, wrapping_up: bool = False) -> None:
        """The caller cannot take a call: on one, or (``wrapping_up``) saving its results."""
        self._waiting.pop(session_id, None)
        self._busy[session_id] = (wrapping_up, self.clock())

    async def caller_gone(self, session_id: int, *, keep_calls: bool = False) -> None:
        """The caller logged out or vanished: forget them and return what they held. A
        finished call whose results never came keeps its lead open, unless ``keep_calls``
        (its results may still come: :meth:`wrap_up` settles it then)."""
        self._waiting.pop(session_id, None)
        self._busy.pop(session_id, None)
        await self._release_preview(session_id)
        if keep_calls:
            return
        for call in [c for c in self.calls.values() if c.session_id == session_id and c.done.is_set()]:
            await self.wrap_up(call.call_id, retry=True)

    @property
    def waiting_callers(self) -> list[int]:
        """Free callers, longest-waiting first."""
        return list(self._waiting)

    # -- preview ---------------------------------------------------------------------
    async def preview(self, session_id: int) -> ReservedHousehold | None:
        """The household this caller sees before dialling (the same one until dialled or
        skipped); None when nothing is left to call or calling hours are over."""
        if session_id in self._previews:
            return self._previews[session_id]
        [household] = await self.queue.reserve(self.campaign_id, holder=self._preview_holder(session_id)) or [None]
        if household is not None:
            self._previews[session_id] = household
        return household

    async def dial_preview(self, session_id: int) -> LiveCall:
        """Dial the caller's previewed household; the answer goes to that caller.
        Raises :class:`DialerError` (``nothing-to-dial``) or the queue's refusal
        (``outside-calling-hours``, ``number-blocked``...), after which it is released."""
        household = self._previews.pop(session_id, None)
        if household is None:
            raise DialerError("nothing-to-dial", "no household is previewed for this caller")
        self.caller_busy(session_id)
        try:
            call = await self._dial(household, self._preview_holder(session_id), session_id=session_id)
        except DialRefused:
            await self.queue.release(holder=self._preview_holder(session_id))
            self.caller_free(session_id)
            raise
        return call

    async def skip_preview(self, session_id: int) -> None:
        """The caller skipped the previewed household: it comes back after the recycle interval."""
        household = self._previews.pop(session_id, None)
        if household is not None:
            await self.queue.skip(household.id, holder=self._preview_holder(session_id),
                                  caller_session_id=session_id)

    async def _release_preview(self, session_id: int) -> None:
        if self._previews.pop(session_id, None) is not None:
            await self.queue.release(holder=self._preview_holder(session_id))

    def _preview_holder(self, session_id: int) -> str:
        return f"{self.holder}:session-{session_id}"

    def on_outcome(self, listener: Callable[[LiveCall], object]) -> None:
        """``listener(call)`` once a call's outcome is known (for a connected call: when
        the lead hangs up; the household's fate then waits for :meth:`wrap_up`)."""
        self._listeners.append(listener)

    def on_line(self, listener: Callable[[LiveCall], object]) -> None:
        """``listener(call)`` as each line is dialled, with its leg (None when the dial failed
        at once, its outcome following); before anything else hears of the leg."""
        self._line_listeners.append(listener)

    def _dialled(self, call: LiveCall) -> None:
        for listener in self._line_listeners:
            try:
                listener(call)
            except Exception:
                logger.exception("campaign %s: line listener failed", self.campaign_id)

    def _announce(self, call: LiveCall) -> None:
        for listener in self._listeners:
            try:
                listener(call)
            except Exception:
                logger.exception("campaign %s: outcome listener failed", self.campaign_id)

    # -- results ---------------------------------------------------------------------
    async def wrap_up(self, call_id: str, *, retry: bool = False, completed_lead_ids: list[int] | None = None,
                      results: Results | None = None, attempt_id: int | None = None) -> HouseholdStatus | None:
        """The caller saved the results of a connected call: settle its household.

        ``results`` writes them in the same transaction as the household's fate. A call
        whose lead still talks (a cold transfer) has its results committed now and its
        household settled when it ends (None is returned). ``attempt_id`` settles a call
        this dialer does not follow (adopted after a restart, long finished)."""
        call = self.calls.get(call_id)
        if call is None and attempt_id is None:
            raise DialerError("no-such-call", f"no call {call_id} is waiting for results")
        if call is not None and call.leg is not None and call.leg.ended.done():
            # The lead has hung up; the call is being put on record: settle all in one go.
            try:
                await asyncio.wait_for(call.done.wait(), 5.0)
            except TimeoutError:
                pass
        if call is not None and not call.done.is_set():
            if results is not None:
                async with self.queue.store.transaction() as session:
                    await results(session)
            self._spawn(self._settle_when_done(call, retry, completed_lead_ids))
            return None
        if call is not None:
            del self.calls[call_id]
            attempt_id = call.attempt_id
        assert attempt_id is not None
        async with self.queue.store.transaction() as session:
            if results is not None:
                await results(session)
            return await record_outcome_in(session, attempt_id, CallStatus.COMPLETED, retry=retry,
                                           completed_lead_ids=completed_lead_ids)

    async def _settle_when_done(self, call: LiveCall, retry: bool, completed_lead_ids: list[int] | None) -> None:
        await call.done.wait()
        if self.calls.pop(call.call_id, None) is not None:
            # Shielded: stop() cancels what is left, and a transaction cancelled half-way can
            # leave the store locked (SQLite) for every other writer.
            await asyncio.shield(self.queue.record_outcome(call.attempt_id, CallStatus.COMPLETED, retry=retry,
                                                           completed_lead_ids=completed_lead_ids))

    # -- the tick loop -------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the tick: a caller freed (or a stop asked) while it runs wakes the next one.
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                logger.exception("campaign %s: dialer tick failed", self.campaign_id)
            try:
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """Decide and dial this tick's lines; returns how many were dialled."""
        now = self.clock()
        if now - self._loaded_at >= REFRESH_SECONDS:
            await self._load()
        campaign = self.campaign
        assert campaign is not None and self.pacer is not None
        if not await self._window() or campaign.dialer_mode is DialerMode.PREVIEW or not campaign.active:
            return 0
        unrouted = len(self._reserved) + sum(1 for call in self.calls.values() if not call.routed)
        if campaign.dialer_mode is DialerMode.POWER:
            wanted = len(self._waiting) - unrouted
        else:
            wanted = self.pacer.decide(await self._snapshot(now), now).lines_to_dial
        live = len(self._reserved) + sum(1 for call in self.calls.values() if not call.done.is_set())
        cap = self.pacer.limits.hard_cap  # the campaign's and the trunk's; the pacer adds the floor's
        count = wanted if cap is None else min(wanted, cap - live)
        if count <= 0:
            return 0
        households = await self.queue.reserve(self.campaign_id, holder=self.holder, count=count)
        if not households and self._waiting and not self._reserved and not self.calls:
            await self.port.out_of_leads(self.campaign_id)
        for household in households:
            self._reserved.add(household.id)
            self._spawn(self._dial_line(household))
        return len(households)

    async def _snapshot(self, now: float) -> FloorSnapshot:
        if now - self._abandonment_at >= 2.0:
            self._abandonment = await abandonment_rates(self.queue.store, self.campaign_id)
            self._abandonment_at = now
        month, day = self._abandonment
        return FloorSnapshot(
            waiting_callers=len(self._waiting),
            busy_callers=[BusyCaller(wrapping, now - since) for wrapping, since in self._busy.values()],
            # Households reserved but not yet dialled are lines about to ring.
            lines=[0.0] * len(self._reserved)
            + [now - call.dialled_at for call in self.calls.values() if not call.routed],
            abandoned_30d=month.abandoned, human_30d=month.human_answered,
            abandoned_24h=day.abandoned, human_24h=day.human_answered,
        )

    async def _load(self) -> None:
        self.campaign = campaign = await self.queue.campaign(self.campaign_id)
        limits = PacingLimits(
            abandon_limit=float(campaign.acceptable_abandon_rate), max_lines=campaign.max_lines,
            trunk_lines=self.trunk_lines,
            line_lifetime=campaign.ring_timeout_seconds + (10.0 if campaign.use_amd else 5.0),
        )
        if self.pacer is None:
            self.pacer = PacingController(limits)
        else:
            self.pacer.limits = limits
        async with self.queue.store.sessions() as session:
            self._voicemail = await _media(session, campaign.voicemail_recording_id)
            self._safe_harbor = (await _media(session, campaign.safe_harbor_recording_id)
                                 or default_safe_harbor(campaign))
        await self.queue.release_stale(older_than=STALE_RESERVATION, campaign_id=self.campaign_id)
        await self._settle_lost_calls()
        self._loaded_at = self.clock()

    async def _settle_lost_calls(self) -> None:
        """Put on record the calls an engine (this one before a restart) left under way
        whose channels are gone, so their households return to the queue. A call whose
        channel is still up is left for the caller flow to adopt."""
        ours = {f"lead-{call_id}" for call_id in self.calls}
        unfinished = [call for call in await self.queue.unfinished_calls(
            self.campaign_id, dialled_before=utcnow() - LOST_CALL_AGE) if call.channel_id not in ours]
        if not unfinished:
            return
        try:
            live = await self.telephony.live_channel_ids()
        except (TelephonyError, AriError) as exc:
            logger.warning("campaign %s: cannot look for lost calls: %s", self.campaign_id, exc)
            return
        lost = [call for call in unfinished if call.channel_id not in live]
        for call in lost:
            await self.queue.settle_lost_call(call)
        if lost:
            logger.warning("campaign %s: %d call(s) lost by a stopped engine put on record", self.campaign_id,
                           len(lost))

    async def _window(self) -> bool:
        """Whether calling hours are open now; tells the callers when that changes."""
        hours = CallingHours.of(self.campaign)
        now = utcnow()
        is_open = hours.is_open(now)
        if is_open != self._window_open:
            self._window_open = is_open
            try:
                await self.port.calling_window(self.campaign_id, hours.closes_at(now), hours.opens_at(now))
            except Exception:
                logger.exception("campaign %s: telling callers about calling hours failed", self.campaign_id)
        return is_open

    # -- one line --------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dial_line(self, household: ReservedHousehold) -> None:
        try:
            async with self._dialing:  # a tick's lines go out a few at a time, not as one storm
                await self._dial(household, self.holder, reserved=True)
        except DialRefused as refused:
            logger.info("campaign %s: %s not dialled (%s)", self.campaign_id, household.phone, refused.error_id)
            await self.queue.release(holder=self.holder, household_ids=[household.id])
        except DialerError:
            pass  # logged, and on record as the attempt's outcome
        except Exception:
            logger.exception("campaign %s: dialling %s failed", self.campaign_id, household.phone)
        finally:
            self._reserved.discard(household.id)

    async def _dial(self, household: ReservedHousehold, holder: str, *, session_id: int | None = None,
                    reserved: bool = False) -> LiveCall:
        campaign = self.campaign
        assert campaign is not None
        call_id = uuid.uuid4().hex[:16]
        call = LiveCall(call_id, 0, household, self.clock(), session_id=session_id)
        call.attempt_id = await self.queue.start_call(
            household.id, holder=holder, dialer_mode=campaign.dialer_mode.value, channel_id=f"lead-{call_id}",
            lead_id=call.lead_id, caller_session_id=session_id,
        )
        self.calls[call_id] = call
        if reserved:
            self._reserved.discard(household.id)  # now counted as a live call
        try:
            call.leg = await dial_lead(
                self.telephony, call_id=call_id, campaign_id=str(self.campaign_id), number=household.phone,
                caller_id=campaign.caller_id or None, ring_timeout=campaign.ring_timeout_seconds,
                amd=campaign.use_amd, session_id=str(session_id or ""),
            )
        except (TelephonyError, AriError) as exc:
            logger.warning("campaign %s: %s could not be dialled: %s", self.campaign_id, household.phone, exc)
            outcome = CallStatus.FAILED if getattr(exc, "error_id", "") == "invalid-number" else CallStatus.NO_ANSWER
            self._dialled(call)
            await self._finish(call, outcome)
            raise DialerError("dial-failed", str(exc)) from exc
        self._dialled(call)
        self._spawn(self._follow(call))
        return call

    async def _follow(self, call: LiveCall) -> None:
        leg = call.leg
        assert leg is not None and self.pacer is not None
        try:
            try:
                call.verdict = await leg.answered
            except DialFailed as failed:
                self._observe(call, LineOutcome.UNANSWERED)
                await self._finish(call, FAILURES.get(failed.reason, CallStatus.FAILED), hangup_cause=failed.cause)
                return
            # Nothing touches the store before the person is with a caller or hears the
            # safe-harbor message: the 2 seconds run from the answer.
            answered = {"answered_at": leg.answered_at or utcnow(),
                        "amd_result": call.verdict.value if leg.amd else None}
            if call.verdict is Verdict.MACHINE:
                self._observe(call, LineOutcome.MACHINE)
                await self._machine(call, answered)
            else:
                self._observe(call, LineOutcome.HUMAN)
                await self._human(call, answered)
        except Exception:
            logger.exception("campaign %s: call %s failed", self.campaign_id, call.call_id)
            if call.outcome is None:
                await leg.hangup()
                await self._finish(call, CallStatus.NO_ANSWER)

    def _observe(self, call: LiveCall, outcome: LineOutcome) -> None:
        call.routed = True
        self.pacer.observe_line(outcome, call.dialled_at, self.clock())

    async def _machine(self, call: LiveCall, answered: dict) -> None:
        leg = call.leg
        campaign = self.campaign
        if campaign.leave_voicemail and call.household.may_leave_voicemail and self._voicemail:
            await leg.drop_voicemail(self._voicemail)
            end = await leg.wait_ended()
            left = leg.voicemail_started_at is not None and end.by.value == "us"
            await self._finish(call, CallStatus.VOICEMAIL_LEFT if left else CallStatus.MACHINE,
                               hangup_cause=end.cause, **answered)
        else:
            await leg.hangup()
            await self._finish(call, CallStatus.MACHINE, hangup_cause=(await leg.wait_ended()).cause, **answered)

    async def _human(self, call: LiveCall, answered: dict) -> None:
        leg = call.leg
        session_id = await self._hand_over(call)
        if session_id is None:
            await self._abandon(call, answered)
            return
        await self.queue.update_call(call.attempt_id, status=CallStatus.CONNECTED, caller_session_id=session_id,
                                     connected_at=leg.connected_at or utcnow(), **answered)
        await self._talk(call, session_id)

    def adopt_call(self, *, call_id: str, attempt_id: int, household: ReservedHousehold, leg: LeadLeg,
                   session_id: int) -> LiveCall:
        """Follow a conversation an engine before us connected (found alive after a restart)."""
        call = LiveCall(call_id, attempt_id, household, self.clock(), leg=leg, session_id=session_id,
                        verdict=Verdict.HUMAN, routed=True)
        self.calls[call_id] = call
        self.caller_busy(session_id)
        self._spawn(self._talk(call, session_id))
        return call

    async def _talk(self, call: LiveCall, session_id: int) -> None:
        """A lead with a caller: until the lead hangs up, then the results decide."""
        leg = call.leg
        assert leg is not None and self.pacer is not None
        connected = self.clock()
        # Shielded, as everywhere here: cancelling this task (a stop) must not cancel the leg's
        # ended, which the session and the recorder follow too (and, on a hand-over, find unended).
        end = await leg.wait_ended()
        self.pacer.observe_talk(self.clock() - connected)
        if leg.voicemail_started_at is not None and end.by is EndedBy.US:
            # The caller reached a machine and left the campaign's message: no results to wait for.
            await self._finish(call, CallStatus.VOICEMAIL_LEFT, ended_at=end.at or utcnow(), hangup_cause=end.cause)
            return
        if session_id in self._busy and not self._busy[session_id][0]:
            self.caller_busy(session_id, wrapping_up=True)
        await self.queue.update_call(call.attempt_id, status=CallStatus.COMPLETED, ended_at=end.at or utcnow(),
                                     hangup_cause=end.cause)
        call.outcome = CallStatus.COMPLETED
        call.done.set()  # the household waits for wrap_up(): the caller's results decide it
        self._announce(call)

    async def _hand_over(self, call: LiveCall) -> int | None:
        """Give the answered call to the caller waiting longest (in preview: its caller)."""
        candidates = [call.session_id] if call.session_id is not None else None
        while True:
            if candidates is not None:
                if not candidates:
                    return None
                session_id = candidates.pop()
            elif self._waiting:
                session_id, _ = self._waiting.popitem(last=False)
            else:
                return None
            self.caller_busy(session_id)
            try:
                connected = await self.port.connect(session_id, call)
            except Exception:
                logger.exception("campaign %s: handing call %s to caller %s failed", self.campaign_id,
                                 call.call_id, session_id)
                connected = False
            if connected:
                call.session_id = session_id
                return session_id
            self._busy.pop(session_id, None)  # it could not take the call; it is not ours to re-queue

    async def _abandon(self, call: LiveCall, answered: dict) -> None:
        """Nobody free: the safe-harbor message starts at once, then the line hangs up."""
        leg = call.leg
        await leg.abandon(self._safe_harbor)
        end = await leg.wait_ended()
        started = leg.safe_harbor_started_at
        if started is None:
            logger.error("campaign %s: call %s abandoned without its safe-harbor message", self.campaign_id,
                         call.call_id)
        await self._finish(call, CallStatus.ABANDONED, safe_harbor_at=started, hangup_cause=end.cause, **answered)

    async def _finish(self, call: LiveCall, outcome: CallStatus, **fields) -> None:
        call.routed = True
        call.outcome = outcome
        try:
            if fields:
                await self.queue.update_call(call.attempt_id, **fields)
            await self.queue.record_outcome(call.attempt_id, outcome)
        finally:
            call.done.set()
            self.calls.pop(call.call_id, None)
            if call.session_id is not None and self.mode is DialerMode.PREVIEW:
                # The preview caller's line ended without a conversation: free again.
                self.caller_free(call.session_id)
            self._wake.set()  # a line less: power and predictive may dial again
            self._announce(call)

    def status(self) -> dict[str, object]:
        """For the supervisor dashboard: callers, lines, the caps on lines and the last pacing
        decisions (each with its reason and, when one cut it, the cap that binds)."""
        decisions = list(self.pacer.decisions) if self.pacer else []
        limits = self.pacer.limits if self.pacer else None
        return {
            "campaign_id": self.campaign_id, "mode": self.mode.value,
            "waiting_callers": len(self._waiting), "busy_callers": len(self._busy),
            "lines": sum(1 for call in self.calls.values() if not call.routed),
            "calls": len(self.calls),
            "line_caps": {"campaign": limits.max_lines if limits else None,
                          "trunk": limits.trunk_lines if limits else None},
            "cap_binding": decisions[-1].cap_binding if decisions else None,
            "decisions": [d.as_json() for d in decisions[-20:]],
        }


async def _media(session, recording_id: int | None) -> str | None:
    if recording_id is None:
        return None
    recording = await session.get(Recording, recording_id)
    return recording.media_uri if recording is not None else None


def default_safe_harbor(campaign: Campaign) -> list[str]:
    """The spoken default when the campaign has no recording: a standard prompt, the
    campaign's name and the number to call back."""
    name = re.sub(r"[^A-Za-z0-9 ]+", " ", campaign.name).strip() or "campaign"
    media = ["sound:safe-harbor", f"characters:{name}"]
    digits = re.sub(r"\D", "", campaign.caller_id or "")
    if digits:
        media.append(f"digits:{digits}")
    return media
