"""Call-API jobs on the engine that owns their campaign.

A call job is a campaign (pacing, abandonment limits, calling hours, blocked numbers and
reports as for any) whose callers are the integrator's people, driven over REST, and
whose numbers may come from the integrator's ``phone_numbers_url``. The engine runs a
:class:`JobRunner` beside the campaign's dialer while the job has live callers here. It

- fetches numbers ahead of need: when the queue holds less than the next minute of
  dialling wants, one page at a time (never two requests at once for a job), with a
  timeout, a size limit and backoff; a failing source pauses the intake (notified), and
  callers wait on hold for numbers rather than end their session;
- notifies the integrator of every call and caller change (:mod:`.notifications`);
- makes callers ready again after ``wrap_up_seconds`` when the job says so;
- stops the job: callers end after their call, then ``job_ended``;
- keeps the sessions alive: an integrator's caller has no page sending presence.

The engine hooks in at a few places: the dialer it makes (:meth:`CallJobs.dialer_made`),
the events it publishes (:meth:`CallJobs.session_event`), an empty queue
(:meth:`CallJobs.numbers_coming`, :meth:`CallJobs.out_of_leads`), and the commands only
call-API callers have (:attr:`CallJobs.commands`: ``ready``, ``transfer_to``, ``remove``).
"""
from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy import func, select, update

from realtime.bus import Message, Subscription
from realtime.destinations import connector
from realtime.dialer import number_source
from realtime.dialer.campaign_dialer import CampaignDialer, LiveCall
from realtime.dialer.number_source import SourceFailed, fetch_page
from realtime.dialer.numbers import add_numbers
from realtime.dialer.phones import InvalidPhoneNumber, to_e164
from realtime.dialer.queue import dialable
from realtime.store.models import CallAttempt, CallJob, CallJobState, Campaign, DialerMode, Household
from realtime.store.types import utcnow

from . import events, notifications, protocol
from .campaigns import TransferOption
from .errors import CallFlowError, wrong_state
from .notifications import CallStateNotifier, Notice
from .states import State

if TYPE_CHECKING:
    from realtime.webhooks import WebhookDispatcher

    from .engine import CallFlowEngine
    from .session import LiveSession

logger = logging.getLogger(__name__)

REJECTIONS_KEPT = 100  # rejected numbers listed on the job; the count goes on
RELOAD_SECONDS = 10.0
MAX_OUTCOME = 100
MAX_NOTES = 10_000
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")

Command = Callable[["LiveSession", dict[str, Any]], Awaitable[dict[str, Any]]]


class CallJobs:
    """The engine's call-API jobs: a runner per job whose dialer runs here."""

    def __init__(self, engine: CallFlowEngine, *, webhooks: WebhookDispatcher | None = None,
                 allow_private: bool = False) -> None:
        self.engine = engine
        self.notifier = CallStateNotifier(engine.store, wake_deliveries=webhooks.notify if webhooks else None,
                                          clock=engine.clock, recording_of=engine.recorder.outcome)
        self.webhooks = webhooks
        self.allow_private = allow_private
        # How numbers are fetched; tests shorten them.
        self.fetch_timeout = number_source.TIMEOUT
        self.backoff_base = 2.0
        self.backoff_max = 300.0
        self.tick_seconds = 1.0
        self.http: aiohttp.ClientSession | None = None
        self._runners: dict[int, JobRunner] = {}
        self._subscription: Subscription | None = None
        self.commands: dict[str, Command] = {"ready": self._ready, "transfer_to": self._transfer_to,
                                             "remove": self._remove}

    async def start(self) -> None:
        await self.notifier.start()
        self.http = aiohttp.ClientSession(connector=connector(allow_private=self.allow_private),
                                          headers={"User-Agent": "ImpactDialing-Realtime-Numbers/1"})
        self._subscription = await self.engine.bus.subscribe(protocol.CAMPAIGNS_CHANGED, self._on_change)

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        for runner in list(self._runners.values()):
            await runner.stop()
        self._runners.clear()
        await self.notifier.close()
        if self.http is not None:
            await self.http.close()

    # -- the engine's hooks ---------------------------------------------------------------------
    async def dialer_made(self, dialer: CampaignDialer) -> None:
        """A campaign's dialer is about to start here: a call job's runner starts with it."""
        async with self.engine.store.sessions() as db:
            job = await db.get(CallJob, dialer.campaign_id)
        if job is None or dialer.campaign_id in self._runners:
            return
        runner = self._runners[job.id] = JobRunner(self, job, dialer)
        dialer.on_line(runner.line_dialled)
        dialer.on_outcome(runner.call_outcome)
        runner.start()

    async def dialer_stopped(self, campaign_id: int) -> None:
        runner = self._runners.pop(campaign_id, None)
        if runner is not None:
            await runner.stop()

    def session_event(self, session: LiveSession, name: str, payload: dict[str, Any]) -> None:
        runner = self._runners.get(session.campaign.id)
        if runner is not None:
            runner.session_event(session, name, payload)

    def numbers_coming(self, campaign_id: int) -> bool:
        """Whether a job's numbers source may still bring numbers: its callers wait for them."""
        runner = self._runners.get(campaign_id)
        return runner is not None and runner.numbers_coming

    def out_of_leads(self, campaign_id: int) -> None:
        runner = self._runners.get(campaign_id)
        if runner is not None:
            runner.out_of_leads()

    def runner(self, campaign_id: int) -> JobRunner | None:
        return self._runners.get(campaign_id)

    async def _on_change(self, topic: str, message: Message) -> None:
        runner = self._runners.get(message.get("campaign_id")) if isinstance(message.get("campaign_id"), int) \
            else None
        if runner is not None:
            runner.reload()

    # -- commands only call-API callers have -------------------------------------------------------
    def _runner_of(self, session: LiveSession) -> JobRunner:
        runner = self._runners.get(session.campaign.id)
        if runner is None:
            raise CallFlowError("unknown-command", "this command is for callers of call-API jobs")
        return runner

    async def _ready(self, session: LiveSession, payload: dict[str, Any]) -> dict[str, Any]:
        runner = self._runner_of(session)
        _only(payload, "outcome", "notes")
        outcome, notes = payload.get("outcome"), payload.get("notes")
        if outcome is not None and (not isinstance(outcome, str) or not 0 < len(outcome) <= MAX_OUTCOME
                                    or _UNSTORABLE.search(outcome)):
            raise CallFlowError("invalid-payload", f"outcome must be text of 1 to {MAX_OUTCOME} characters")
        if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES or _UNSTORABLE.search(notes)):
            raise CallFlowError("invalid-payload", f"notes must be text of at most {MAX_NOTES} characters")
        async with session.lock:
            return await runner.ready(session, outcome, notes)

    async def _transfer_to(self, session: LiveSession, payload: dict[str, Any]) -> dict[str, Any]:
        self._runner_of(session)
        _only(payload, "phone", "kind")
        kind = payload.get("kind", "cold")
        if kind not in ("warm", "cold"):
            raise CallFlowError("invalid-payload", 'kind must be "warm" or "cold"')
        phone = payload.get("phone")
        try:
            number = to_e164(phone) if isinstance(phone, str) else None
        except InvalidPhoneNumber as exc:
            raise CallFlowError("invalid-phone-number", f"that is not a phone number ({exc.reason})") from None
        if number is None:
            raise CallFlowError("invalid-payload", "phone must be the number to transfer to")
        async with session.lock:
            if session.state is not State.ON_CALL:
                raise wrong_state("transfer", session.state.value)
            return await session.transfer_to(TransferOption(None, number, number, kind))

    async def _remove(self, session: LiveSession, payload: dict[str, Any]) -> dict[str, Any]:
        runner = self._runner_of(session)
        _only(payload)
        async with session.lock:
            call = session.call
            await session.end("kicked")
        # A conversation it had ends with it: settled at once, its lead open for another try.
        runner.spawn(runner.settle_removed(session, call), "settling a removed caller's call")
        return {}


class JobRunner:
    """One job on this engine, beside its campaign's dialer."""

    def __init__(self, jobs: CallJobs, job: CallJob, dialer: CampaignDialer) -> None:
        self.jobs = jobs
        self.engine = jobs.engine
        self.notifier = jobs.notifier
        self.job = job
        self.dialer = dialer
        self._wake = asyncio.Event()
        self._reload = False
        self._task: asyncio.Task[None] | None = None
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dialled: collections.deque[float] = collections.deque()
        self._exhausted = job.numbers_exhausted_at is not None
        self._stopped_sessions = False
        self._stopping = False

    @property
    def id(self) -> int:
        return self.job.id

    @property
    def numbers_coming(self) -> bool:
        job = self.job
        return job.state is CallJobState.RUNNING and bool(job.phone_numbers_url) and not job.source_exhausted

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"call-job-{self.id}")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop after the round under way (cancelled inside a transaction, a task could leave
        the store locked); what is still waiting after ``grace`` is cancelled."""
        self._stopping = True
        self._wake.set()
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        tasks += self._timers.values()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def reload(self) -> None:
        self._reload = True
        self._wake.set()

    def spawn(self, coro: Awaitable[Any], what: str) -> None:
        """Run ``coro`` beside the runner's rounds; a failure is logged with what it was doing."""
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("call job %s: %s failed", self.id, what)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"call-job-{self.id}:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what happens on the floor -------------------------------------------------------------
    def session_event(self, session: LiveSession, name: str, payload: dict[str, Any]) -> None:
        self.notifier.session_event(self.id, session, name, payload)
        if name == "state_changed":
            if payload["state"] == State.WRAP_UP.value and self.job.wrap_up_seconds is not None:
                self._start_timer(session)
            elif payload["reason"] == "waiting_for_numbers":
                self._wake.set()
        elif name == "session_ended":
            timer = self._timers.pop(session.id, None)
            if timer is not None:
                timer.cancel()
            if payload["reason"] == "out_of_leads":
                self.out_of_leads()

    def line_dialled(self, call: LiveCall) -> None:
        session = self.engine.sessions.get(call.session_id) if call.session_id is not None else None
        self.notifier.line_dialled(self.id, call, session.caller.id if session is not None else None)
        now = self.engine.clock()
        self._dialled.append(now)
        while self._dialled and now - self._dialled[0] > 60:
            self._dialled.popleft()

    def call_outcome(self, call: LiveCall) -> None:
        session = self.engine.sessions.get(call.session_id) if call.session_id is not None else None
        self.notifier.call_outcome(self.id, call, by_caller=session is not None
                                   and session.hung_up_by_caller(call.call_id))

    def out_of_leads(self) -> None:
        """Nothing is left to dial (and the source, if any, has no more): said once per job."""
        if self._exhausted or self.numbers_coming:
            return
        self._exhausted = True
        self.spawn(self._note_exhausted(), "noting the numbers exhausted")

    async def _note_exhausted(self) -> None:
        async with self.engine.store.transaction() as db:
            noted = await db.execute(update(CallJob).where(
                CallJob.id == self.id, CallJob.numbers_exhausted_at.is_(None)).values(numbers_exhausted_at=utcnow()))
            if noted.rowcount:
                await self._notify(db, [Notice(self.id, "numbers_exhausted")])
        self._deliver()

    # -- callers ready again -----------------------------------------------------------------------
    async def ready(self, session: LiveSession, outcome: str | None, notes: str | None) -> dict[str, Any]:
        """The caller's wrap-up is over (the lock is held): store what the integrator said of
        the call with it, settle its household, and give the caller the next one."""
        pending = session.pending
        if pending is None or session.state not in (State.WRAP_UP, State.ENDED):
            raise wrong_state("submit", session.state.value)
        timer = self._timers.pop(session.id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

        async def write(db) -> None:
            await db.execute(update(CallAttempt).where(CallAttempt.id == pending.attempt_id).values(
                wrapped_up_at=utcnow(), outcome=outcome, notes=notes))

        await pending.dialer.wrap_up(pending.call_id, retry=False, results=write, attempt_id=pending.attempt_id)
        session.pending = None
        session.emit(events.RESULTS_SAVED, call_id=pending.call_id,
                     lead_id=pending.lead_ids[0] if pending.lead_ids else None, retry=False)
        self.notifier.caller_ready(self.id, session, pending.call_id, outcome)
        if not session.ended:
            await session.next_lead("results_saved")
        return {"call_id": pending.call_id}

    def _start_timer(self, session: LiveSession) -> None:
        pending = session.pending
        if pending is None:
            return
        seconds = self.job.wrap_up_seconds or 0

        async def expire() -> None:
            await asyncio.sleep(seconds)
            async with session.lock:
                if session.pending is pending and session.state is State.WRAP_UP:
                    self._timers.pop(session.id, None)
                    await self.ready(session, None, None)

        previous = self._timers.pop(session.id, None)
        if previous is not None:
            previous.cancel()
        self._timers[session.id] = asyncio.get_running_loop().create_task(
            expire(), name=f"call-job-{self.id}:wrap-up-{session.id}")

    async def settle_removed(self, session: LiveSession, call: LiveCall | None) -> None:
        """A removed caller's last conversation is over: its household back in the queue."""
        if call is not None:
            try:
                await asyncio.wait_for(call.done.wait(), 30)
            except TimeoutError:
                pass
        async with session.lock:
            pending, session.pending = session.pending, None
        if pending is not None:
            await pending.dialer.wrap_up(pending.call_id, retry=True, attempt_id=pending.attempt_id)
        elif call is not None and call.done.is_set() and call.call_id in self.dialer.calls:
            # A conversation the session's end cut short owes no results: nobody will send them.
            await self.dialer.wrap_up(call.call_id, retry=True)

    # -- the runner's loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        loaded = self.engine.clock()
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.jobs.tick_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                return
            try:
                if self._reload or self.engine.clock() - loaded >= RELOAD_SECONDS:
                    self._reload = False
                    loaded = self.engine.clock()
                    await self._load()
                sessions = self.engine.of_campaign(self.id)
                for session in sessions:
                    session.touch()  # the integrator's callers have no page to say they are there
                if self.job.state is CallJobState.RUNNING:
                    await self._feed(sessions)
                else:
                    await self._wind_down(sessions)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("call job %s: its round failed", self.id)

    async def _load(self) -> None:
        async with self.engine.store.sessions() as db:
            job = await db.get(CallJob, self.id)
        if job is not None:
            self.job = job
        self.notifier.forget_job(self.id)

    async def _queued(self) -> int:
        async with self.engine.store.sessions() as db:
            campaign = await db.get(Campaign, self.id)
            if campaign is None:
                return 0
            return await db.scalar(select(func.count()).select_from(Household).where(dialable(campaign, utcnow()))) \
                or 0

    async def _feed(self, sessions: list[LiveSession]) -> None:
        """Numbers ahead of need, and callers waiting for them given their next lead."""
        waiting = [s for s in sessions if s.state is State.ON_HOLD and s.campaign.mode is not DialerMode.PREDICTIVE]
        if not sessions or (not self.numbers_coming and not waiting):
            return
        queued = await self._queued()
        if self.numbers_coming:
            need = max(2 * len(sessions), len(self._dialled), 1)
            retry_at = self.job.intake_retry_at
            if queued < need and (retry_at is None or utcnow() >= retry_at):
                queued += await self._fetch()
        if waiting and (queued or not self.numbers_coming):
            for session in waiting:
                async with session.lock:
                    if session.state is State.ON_HOLD:
                        await session.next_lead("numbers_arrived")

    async def _fetch(self) -> int:
        """One page from the source into the queue; how many numbers it added."""
        job = self.job
        page = job.numbers_next_page
        assert self.jobs.http is not None and job.phone_numbers_url
        try:
            numbers = await fetch_page(self.jobs.http, job.phone_numbers_url, page, job.numbers_page_size,
                                       allow_private=self.jobs.allow_private, timeout=self.jobs.fetch_timeout)
        except SourceFailed as exc:
            logger.info("call job %s: numbers page %d not fetched: %s", self.id, page, exc.reason)
            await self._source_failed(exc.reason)
            return 0
        async with self.engine.store.transaction() as db:
            job = await db.scalar(select(CallJob).where(CallJob.id == self.id).with_for_update())
            if job is None or job.numbers_next_page != page or job.state is not CallJobState.RUNNING:
                return 0  # stopped meanwhile, or another engine took the page
            notices = []
            added = 0
            if numbers:
                result = await add_numbers(db, account_id=job.account_id, campaign_id=job.id, numbers=numbers)
                added = len(result.added) - len(result.blocked)
                job.numbers_next_page = page + 1
                job.numbers_added += len(result.added)
                job.numbers_duplicate += result.duplicates
                job.numbers_rejected += len(result.rejected)
                if result.rejected and len(job.rejected_numbers) < REJECTIONS_KEPT:
                    job.rejected_numbers = [*job.rejected_numbers,
                                            *result.rejected][:REJECTIONS_KEPT]
                notices += [Notice(self.id, "number_rejected", fields=dict(r)) for r in result.rejected]
            else:
                job.source_exhausted = True
            if job.intake_failures:
                notices.append(Notice(self.id, "numbers_resumed"))
                job.intake_failures, job.intake_error, job.intake_retry_at = 0, None, None
            await self._notify(db, notices)
        self._deliver()
        self.job = job
        logger.info("call job %s: numbers page %d brought %d number(s)", self.id, page, len(numbers))
        return added

    async def _source_failed(self, reason: str) -> None:
        async with self.engine.store.transaction() as db:
            job = await db.scalar(select(CallJob).where(CallJob.id == self.id).with_for_update())
            if job is None:
                return
            job.intake_failures += 1
            job.intake_error = reason
            delay = min(self.jobs.backoff_base * 2 ** (job.intake_failures - 1), self.jobs.backoff_max)
            job.intake_retry_at = utcnow() + dt.timedelta(seconds=delay)
            if job.intake_failures == 1:  # the intake pauses; retries go on quietly until one works
                await self._notify(db, [Notice(self.id, "numbers_paused", fields={
                    "reason": reason, "retry_at": notifications.iso(job.intake_retry_at)})])
        self._deliver()
        self.job = job

    async def _wind_down(self, sessions: list[LiveSession]) -> None:
        """The job was stopped: callers end after their call; when nobody and no line is
        left, the job has ended."""
        if not self._stopped_sessions:
            self._stopped_sessions = True
            for session in sessions:
                async with session.lock:
                    if not session.ended:
                        await session.end_when_idle("stopped")
            sessions = self.engine.of_campaign(self.id)
        if sessions or any(not call.done.is_set() for call in self.dialer.calls.values()):
            return
        async with self.engine.store.transaction() as db:
            ended = await db.execute(update(CallJob).where(
                CallJob.id == self.id, CallJob.state == CallJobState.STOPPING).values(
                state=CallJobState.ENDED, ended_at=utcnow(), end_reason="stopped"))
            if ended.rowcount:
                await self._notify(db, [Notice(self.id, "job_ended", fields={"reason": "stopped"})])
                logger.info("call job %s ended", self.id)
        self._deliver()
        await self._load()

    async def _notify(self, db, notices: list[Notice]) -> None:
        """Job-wide notifications, in the transaction of the change they report."""
        if not notices:
            return
        job = await db.get(CallJob, self.id)
        await notifications.write(db, notices, account_id=job.account_id, url=job.call_state_url, references={})

    def _deliver(self) -> None:
        """After a commit: the outbox has news (delivered now rather than at its next look)."""
        if self.jobs.webhooks is not None:
            self.jobs.webhooks.notify()


def _only(payload: dict[str, Any], *names: str) -> None:
    unknown = set(payload) - set(names)
    if unknown:
        raise CallFlowError("invalid-payload", f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
