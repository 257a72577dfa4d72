"""Call-state notifications of call-API jobs: what an integrator's ``call_state_url`` hears.

The engine that owns a job's campaign is the single writer of its calls' and callers'
notifications: :class:`CallStateNotifier` hears the job's caller sessions' events (where
the engine publishes them), the dialer's lines (dialled, ringing, answered) and their
outcomes, turns them into notifications, and writes them to the webhook outbox
(:mod:`realtime.webhooks`) from one ordered queue, so each event is written once and the
notifications of a call are written in the order things happened. The outbox delivers
them signed, retried, in order per subject and to public addresses only; a slow or
failing receiver delays only its own notifications, never the floor.

Every notification's data is ``{event, job_id, call_id, caller_id, sequence, at, ...}``:
``caller_id`` is the integrator's reference for the caller, ``sequence`` counts from 1 per
subject: per call (``call:<call id>``), per caller (``caller:<our caller id>``, for the
caller's own changes) or per job (``call-job:<job id>``, numbers and the job's end).
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import func, select, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.dialer.campaign_dialer import LiveCall
from realtime.store.database import Store
from realtime.store.models import CallJob, CallJobCaller, CallStatus, DialerMode, WebhookDelivery
from realtime.store.types import utcnow
from realtime.telephony import Verdict
from realtime.webhooks import enqueue

from .recording import FINISH_WAIT_SECONDS
from .states import State

if TYPE_CHECKING:
    from .session import LiveSession

logger = logging.getLogger(__name__)

EVENT_PREFIX = "call."
NO_CALLER = "-"  # what ":caller_id" becomes in a notification about no caller

# Every notification, with the fields it adds to the common ones: docs/api.md describes
# each, and a test keeps the two in step.
CATALOGUE: dict[str, tuple[str, ...]] = {
    "caller_connected": (),
    "caller_disconnected": ("reason",),
    "lead_presented": ("phone", "household_id"),
    "dialing": ("phone",),
    "ringing": (),
    "answered": ("by",),
    "connected": (),
    "abandoned": (),
    "voicemail_left": (),
    "transferred": ("kind", "to"),
    "hung_up": ("status", "by", "duration_s"),
    "caller_ready": ("outcome",),
    "numbers_exhausted": (),
    "number_rejected": ("phone", "reason"),
    "numbers_paused": ("reason", "retry_at"),
    "numbers_resumed": (),
    "job_ended": ("reason",),
}
# Fields a notification has only sometimes.
OPTIONAL: dict[str, tuple[str, ...]] = {"hung_up": ("recording_url",)}
COMMON = ("event", "job_id", "call_id", "caller_id", "sequence", "at")

# The dialer's outcome -> hung_up {status}.
STATUS = {
    CallStatus.COMPLETED: "completed", CallStatus.BUSY: "busy", CallStatus.NO_ANSWER: "no_answer",
    CallStatus.FAILED: "failed", CallStatus.MACHINE: "machine", CallStatus.VOICEMAIL_LEFT: "voicemail_left",
    CallStatus.ABANDONED: "abandoned",
}
CALL_KEPT_SECONDS = 3600.0  # an ended call is remembered this long (its caller's wrap-up, a late word of it)
# hung_up waits this long at most for a recorded call's file to be complete, so that it
# can carry recording_url; the call's later notifications wait behind it, in order.
RECORDING_WAIT_SECONDS = FINISH_WAIT_SECONDS + 1.0


@dataclasses.dataclass(frozen=True)
class Notice:
    """One notification, before it is written."""

    job_id: int
    event: str
    call_id: str | None = None
    caller: int | None = None  # our caller id; the integrator's reference is looked up
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    at: dt.datetime = dataclasses.field(default_factory=utcnow)

    def __post_init__(self) -> None:
        required = set(CATALOGUE[self.event])
        if not required <= set(self.fields) <= required | set(OPTIONAL.get(self.event, ())):
            raise TypeError(f"{self.event} takes {CATALOGUE[self.event]}, not {sorted(self.fields)}")

    @property
    def subject(self) -> str:
        if self.call_id is not None:
            return f"call:{self.call_id}"
        if self.caller is not None:
            return f"caller:{self.caller}"
        return f"call-job:{self.job_id}"


def fill_url(template: str, *, job_id: int, call_id: str | None, reference: str | None) -> str:
    """``call_state_url`` for one notification: ``:caller_id`` becomes the caller's reference
    (``-`` when none), ``:id`` the call's id (the job's when the notification is about no
    call)."""
    url = template.replace(":caller_id", quote(reference, safe="") if reference else NO_CALLER)
    return re.sub(r":id(?![A-Za-z0-9_])", call_id or str(job_id), url)


def iso(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


async def write(session: AsyncSession, notices: Iterable[Notice], *, account_id: int, url: str,
                references: dict[int, str]) -> list[WebhookDelivery]:
    """Put notifications of one job in the outbox, in the caller's transaction and in order;
    each gets the next ``sequence`` of its subject, whoever else writes to it."""
    written = []
    for notice in notices:
        subject = notice.subject
        if session.bind.dialect.name == "postgresql":
            # Writers of one subject take turns, so counting what is there gives the next number.
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:subject))"), {"subject": subject})
        delivery = await put(session, notice, account_id=account_id, url=url, references=references, sequence=0)
        # On SQLite the insert took the one write lock: nobody else writes before the commit.
        sequence = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.subject == subject, WebhookDelivery.id <= delivery.id))
        delivery.payload = {**delivery.payload, "sequence": sequence}
        written.append(delivery)
    await session.flush()
    return written


async def put(session: AsyncSession, notice: Notice, *, account_id: int, url: str, references: dict[int, str],
              sequence: int) -> WebhookDelivery:
    """One notification in the outbox with the given ``sequence``."""
    reference = references.get(notice.caller) if notice.caller is not None else None
    data = {"event": notice.event, "job_id": notice.job_id, "call_id": notice.call_id, "caller_id": reference,
            "sequence": sequence, "at": iso(notice.at), **notice.fields}
    return await enqueue(session, account_id=account_id, subject=notice.subject, event=EVENT_PREFIX + notice.event,
                         url=fill_url(url, job_id=notice.job_id, call_id=notice.call_id, reference=reference),
                         payload=data)


async def references_of(session: AsyncSession, caller_ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(caller_ids))
    if not wanted:
        return {}
    return dict((await session.execute(select(CallJobCaller.caller_id, CallJobCaller.reference).where(
        CallJobCaller.caller_id.in_(wanted)))).all())


@dataclasses.dataclass
class _Call:
    """What the notifier remembers of one call of a job while it lasts."""

    job_id: int
    caller: int | None = None  # once the call has one
    leg: Any = None
    ringing: bool = False
    answered: bool = False
    ready: bool = False  # its caller's wrap-up is over
    held: list[Notice] | None = None  # while hung_up waits for the recording: what comes after it


class CallStateNotifier:
    """Turns a job's session events, lines and outcomes into notifications, and writes them."""

    def __init__(self, store: Store, *, wake_deliveries: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 recording_of: Callable[[str], asyncio.Future[str | None] | None] | None = None) -> None:
        self.store = store
        self.recording_of = recording_of  # a call's recording URL to come (see .recording)
        self.wake_deliveries = wake_deliveries
        self.clock = clock
        self._queue: asyncio.Queue[Notice] = asyncio.Queue()
        self._calls: dict[str, _Call] = {}
        # Calls whose end was notified, and when: the session and the dialer both tell of it.
        self._ended: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._joined: set[int] = set()  # sessions whose caller_connected was said
        self._urls: dict[int, tuple[int, str]] = {}  # job -> (account, call_state_url)
        self._references: dict[int, str] = {}
        # The last sequence of each call's and caller's subject: this writer is theirs alone (the
        # engine running the job), so it counts on in memory after reading the outbox once.
        self._sequences: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self.written = 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="call-state-notifications")

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for ``timeout`` at most), then stop."""
        deadline = self.clock() + timeout
        while (not self._queue.empty() or self._writing) and self.clock() < deadline:
            await asyncio.sleep(0.01)  # never cancelled mid-transaction: SQLite would stay locked
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def forget_job(self, job_id: int) -> None:
        """The job was edited: read its call_state_url again."""
        self._urls.pop(job_id, None)

    @property
    def idle(self) -> bool:
        return self._queue.empty() and not self._writing

    # -- from the engine --------------------------------------------------------------------
    def session_event(self, job_id: int, session: LiveSession, name: str, payload: dict[str, Any]) -> None:
        caller = session.caller.id
        if session.id not in self._joined and session.conference is not None and (
                session.state is State.CONNECTING or payload.get("previous") == State.CONNECTING.value):
            # The first word from a session whose phone just joined (a lead presented at once, or on hold).
            self._joined.add(session.id)
            self._put(Notice(job_id, "caller_connected", caller=caller))
        if name == "lead_presented":
            if session.campaign.mode is DialerMode.PREVIEW:
                household = payload["household"]
                self._put(Notice(job_id, "lead_presented", caller=caller,
                                 fields={"phone": household["phone"], "household_id": household["id"]}))
        elif name == "call_connected":
            call = self._call(job_id, payload["call_id"])
            call.caller = caller
            self._put(Notice(job_id, "connected", payload["call_id"], caller))
        elif name == "call_ended":
            if payload["call_id"]:
                self._hung_up(job_id, payload["call_id"], payload["status"], payload["by"], caller)
        elif name == "transfer_connected":
            call_id = (session.call.call_id if session.call is not None
                       else session.pending.call_id if session.pending is not None else None)
            if call_id is not None:
                self._call(job_id, call_id)
                label = session.transfer.label if session.transfer is not None else ""
                self._put(Notice(job_id, "transferred", call_id, caller,
                                 fields={"kind": payload["kind"], "to": label}))
        elif name == "session_ended":
            self._put(Notice(job_id, "caller_disconnected", caller=caller, fields={"reason": payload["reason"]}))
            self._joined.discard(session.id)
            self._sequences.pop(f"caller:{caller}", None)  # read again if they come back
            for call_id in [k for k, c in self._calls.items() if c.caller == caller and k in self._ended]:
                del self._calls[call_id]

    def line_dialled(self, job_id: int, call: LiveCall, caller: int | None) -> None:
        """The dialer dialled a line of the job (a preview or power caller's, or predictive);
        ``call.leg`` is None when the dial failed at once."""
        self._calls[call.call_id] = _Call(job_id, caller=caller, leg=call.leg)
        self._sequences.setdefault(f"call:{call.call_id}", 0)  # a new call: nothing written of it yet
        self._put(Notice(job_id, "dialing", call.call_id, caller, fields={"phone": call.household.phone}))
        if call.leg is not None:
            call.leg.ringing.add_done_callback(lambda done: self._ringing(job_id, call.call_id, done))
            call.leg.answered.add_done_callback(lambda done: self._answered(job_id, call.call_id, done))

    def call_outcome(self, job_id: int, call: LiveCall, *, by_caller: bool) -> None:
        """How a line of the job ended (the dialer's word; ``by_caller``: its caller hung up on it)."""
        if call.outcome is None:
            return
        status = STATUS.get(call.outcome, "failed")
        by = "system"
        if call.outcome is CallStatus.COMPLETED:
            ended = call.leg.ended.result() if call.leg is not None and call.leg.ended.done() else None
            by = "lead" if ended is not None and ended.by.value == "far-end" and not by_caller else "caller"
        elif by_caller:
            status, by = "cancelled", "caller"
        self._hung_up(job_id, call.call_id, status, by, None)

    def caller_ready(self, job_id: int, session: LiveSession, call_id: str, outcome: str | None) -> None:
        """The caller's wrap-up of ``call_id`` is done (the integrator said so, or its time ran out)."""
        self._put(Notice(job_id, "caller_ready", call_id, session.caller.id, fields={"outcome": outcome}))
        call = self._calls.get(call_id)
        if call is not None:
            if call_id in self._ended:
                del self._calls[call_id]
            else:
                call.ready = True  # a cold transfer's lead talks on: its hang-up comes later

    # -- a call's notifications, in order ----------------------------------------------------
    def _call(self, job_id: int, call_id: str) -> _Call:
        """The call's record (made now for a call this engine did not dial: one it took back)."""
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(job_id)
        return call

    def _ringing(self, job_id: int, call_id: str, done: asyncio.Future) -> None:
        call = self._calls.get(call_id)
        if done.cancelled() or done.exception() is not None or call is None or call.ringing or call.answered \
                or call_id in self._ended:
            return
        call.ringing = True
        self._put(Notice(job_id, "ringing", call_id, call.caller))

    def _answered(self, job_id: int, call_id: str, done: asyncio.Future) -> None:
        call = self._calls.get(call_id)
        if done.cancelled() or done.exception() is not None or call is None or call.answered \
                or call_id in self._ended:
            return
        call.answered = True
        by = "machine" if done.result() is Verdict.MACHINE else "human"
        self._put(Notice(job_id, "answered", call_id, call.caller, fields={"by": by}))

    def _hung_up(self, job_id: int, call_id: str, status: str, by: str, caller: int | None) -> None:
        if call_id in self._ended:
            return  # told already (by the session, or by the dialer)
        self._ended[call_id] = self.clock()
        call = self._call(job_id, call_id)
        call.caller = call.caller or caller
        if status == "abandoned":
            self._put(Notice(job_id, "abandoned", call_id, call.caller))
        elif status == "voicemail_left":
            self._put(Notice(job_id, "voicemail_left", call_id, call.caller))
        fields = {"status": status, "by": by, "duration_s": _duration(call.leg)}
        recording = self.recording_of(call_id) if self.recording_of is not None else None
        if recording is None or recording.done():
            self._say_hung_up(job_id, call_id, call, fields, recording)
            return
        # Recorded: the file is complete a moment after the hang-up; hung_up says where it is.
        call.held = []

        def say(*_: Any) -> None:
            if call.held is None:
                return  # said already: on the recording's end or the wait's, whichever came first
            timer.cancel()
            self._say_hung_up(job_id, call_id, call, fields, recording)

        timer = asyncio.get_running_loop().call_later(RECORDING_WAIT_SECONDS, say)
        recording.add_done_callback(say)

    def _say_hung_up(self, job_id: int, call_id: str, call: _Call, fields: dict[str, Any],
                     recording: asyncio.Future[str | None] | None) -> None:
        held, call.held = call.held or [], None
        url = recording.result() if recording is not None and recording.done() else None
        if url:
            fields["recording_url"] = url
        self._put(Notice(job_id, "hung_up", call_id, call.caller, fields=fields))
        for notice in held:
            self._put(notice)
        if call.caller is None or call.ready:
            self._calls.pop(call_id, None)  # nobody will be ready after it, or they were already

    def _put(self, notice: Notice) -> None:
        call = self._calls.get(notice.call_id) if notice.call_id is not None else None
        if call is not None and call.held is not None:
            call.held.append(notice)  # after the call's hung_up, still waiting for its recording
            return
        self._queue.put_nowait(notice)

    # -- writing ------------------------------------------------------------------------------
    async def _writer(self) -> None:
        """The one writer: batches of what is queued, in order, one transaction each."""
        while True:
            batch = [await self._queue.get()]
            self._writing = True
            while not self._queue.empty() and len(batch) < 200:
                batch.append(self._queue.get_nowait())
            delay = 0.1
            while True:
                try:
                    await self._write(batch)
                    break
                except asyncio.CancelledError:
                    raise
                except (OperationalError, InterfaceError, OSError, TimeoutError):
                    # The database is away: the notifications wait for it, in order.
                    logger.exception("%d call-state notification(s) not written; retrying", len(batch))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                except Exception:
                    # One the store refuses must not hold up the others: each alone, the refused dropped.
                    logger.exception("call-state notifications refused by the store; writing them one by one")
                    batch = await self._write_each(batch)
                    if not batch:
                        break
            self.written += len(batch)
            self._writing = False
            if self.wake_deliveries is not None:
                self.wake_deliveries()
            now = self.clock()
            while self._ended and now - next(iter(self._ended.values())) > CALL_KEPT_SECONDS:
                call_id, _ = self._ended.popitem(last=False)
                self._calls.pop(call_id, None)
                self._sequences.pop(f"call:{call_id}", None)

    async def _write_each(self, batch: list[Notice]) -> list[Notice]:
        """Write each notice alone, dropping those the store refuses; those left when it went away."""
        for index, notice in enumerate(batch):
            try:
                await self._write([notice])
            except (OperationalError, InterfaceError, OSError, TimeoutError):
                return batch[index:]
            except Exception:
                logger.exception("call-state notification %s of job %s dropped", notice.event, notice.job_id)
        return []

    async def _write(self, batch: list[Notice]) -> None:
        async with self.store.transaction() as session:
            missing_jobs = {n.job_id for n in batch} - set(self._urls)
            if missing_jobs:
                for job_id, account_id, url in await session.execute(select(
                        CallJob.id, CallJob.account_id, CallJob.call_state_url).where(CallJob.id.in_(missing_jobs))):
                    self._urls[job_id] = (account_id, url)
            self._references.update(await references_of(
                session, {n.caller for n in batch if n.caller is not None} - set(self._references)))
            ours = {n.subject for n in batch if not n.subject.startswith("call-job:")}
            unknown = ours - set(self._sequences)
            sequences = {subject: 0 for subject in unknown}
            if unknown:
                sequences.update((await session.execute(
                    select(WebhookDelivery.subject, func.count()).where(WebhookDelivery.subject.in_(unknown))
                    .group_by(WebhookDelivery.subject))).all())
            for notice in batch:
                if notice.job_id not in self._urls:
                    logger.warning("call job %s is gone: its notification %s is dropped", notice.job_id, notice.event)
                    continue
                account_id, url = self._urls[notice.job_id]
                if notice.subject in ours:
                    sequence = sequences[notice.subject] = sequences.get(
                        notice.subject, self._sequences.get(notice.subject, 0)) + 1
                    await put(session, notice, account_id=account_id, url=url, references=self._references,
                              sequence=sequence)
                else:  # the job's own: the API writes some of them too
                    await write(session, [notice], account_id=account_id, url=url, references=self._references)
        self._sequences.update(sequences)  # committed


def _duration(leg: Any) -> float:
    """Seconds from the answer to the hang-up (to now while it still plays a message)."""
    answered = getattr(leg, "answered_at", None)
    if answered is None:
        return 0.0
    ended = getattr(leg, "ended_at", None) or utcnow()
    return round(max((ended - answered).total_seconds(), 0.0), 1)
