"""The caller flow on an engine: caller sessions of the campaigns this engine owns.

It listens on the bus for commands (see :mod:`.protocol`), answers the ones for sessions
of campaigns it holds the lease of (taking a free campaign on the first command for it),
runs a :class:`CampaignDialer` per campaign with live sessions, and is that dialer's
:class:`CallerPort`. Events leave through one ordered publisher: numbered in the event
log, then on the bus. Session states reach the store behind the events, coalesced.

On start it takes back what an engine before it left (the sessions live in the store,
their calls still up in Asterisk) and hands the rest to telephony's reaper.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, select, update

from realtime.bus import Bus, BusError, Message, Subscription
from realtime.dialer.campaign_dialer import CampaignDialer, LiveCall
from realtime.dialer.phones import InvalidPhoneNumber, to_e164
from realtime.dialer.queue import DialQueue, results_ask_retry
from realtime.store.database import Store
from realtime.store.models import (
    BlockedNumber,
    CallAttempt,
    CallStatus,
    Caller,
    CallerSession,
    CallerSessionStatus,
    TransferAttempt,
)
from realtime.store.types import utcnow
from realtime.telephony import Conference, ConferenceClosed, LeadLeg, LiveChannel, Role, Telephony, TelephonyError
from realtime.telephony.ari import AriError, Bridge, NoSuchChannel
from realtime.telephony.dial_in import DialIn, DialInEnd, DialInResult, DialInTarget
from realtime.telephony.transfer import Transfer
from realtime.webhooks import WebhookDispatcher

from . import events, protocol, results, supervision
from .call_jobs import CallJobs
from .campaigns import CampaignView, TransferOption, load_campaign
from .errors import CallFlowError
from .event_log import EventLog, EventLogUnavailable
from .floor import FloorReporter
from .households import household_json
from .leases import Leases
from .recording import CallRecorder
from .session import ActiveTransfer, CallerInfo, LiveSession, Pending
from .states import State
from .supervision import Supervisors

logger = logging.getLogger(__name__)

GRACE_SECONDS = 60.0  # a session with neither page nor phone ends after this long
PENDING_SECONDS = 15 * 60.0  # results owed by an ended session are waited for this long
ENDED_KEEP_SECONDS = 300.0  # an ended session owing nothing is remembered this long (repeated submits)
MAINTENANCE_SECONDS = 5.0
RENEW_SECONDS = 10.0
PUBLISH_BATCH = 500  # events per bus message, at most
SESSION_PIN_DIGITS = 7  # caller PINs have 6: a session's PIN is never a caller's
TYPED_PHONES_PER_HOUR = 10  # numbers a caller may type at start: a caller account is not a free phone


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    dial_in_number: str = ""
    caller_id: str = ""
    grace_seconds: float = GRACE_SECONDS
    pending_seconds: float = PENDING_SECONDS
    maintenance_seconds: float = MAINTENANCE_SECONDS
    tick_seconds: float = 1.0
    trunk_lines: int | None = None  # the trunk's capacity, which every campaign's lines respect
    allow_private_urls: bool = False  # call jobs' numbers sources may be on private addresses
    public_url: str | None = None  # the server's public base URL, for recording URLs


class _Port:
    """The dialer's :class:`CallerPort` for one campaign."""

    def __init__(self, engine: CallFlowEngine, campaign_id: int) -> None:
        self.engine = engine
        self.campaign_id = campaign_id

    async def connect(self, session_id: int, call: LiveCall) -> bool:
        session = self.engine.sessions.get(session_id)
        return await session.connect(call) if session is not None else False

    async def calling_window(self, campaign_id: int, closes_at: dt.datetime | None,
                             opens_at: dt.datetime | None) -> None:
        for session in self.engine.of_campaign(campaign_id):
            await session.calling_window(closes_at is not None, closes_at, opens_at)

    async def out_of_leads(self, campaign_id: int) -> None:
        if self.engine.jobs.numbers_coming(campaign_id):
            return  # a call job's next numbers are on their way: callers wait on hold
        self.engine.jobs.out_of_leads(campaign_id)
        for session in self.engine.of_campaign(campaign_id):
            if session.state is State.ON_HOLD:
                async with session.lock:
                    await session.end_when_idle("out_of_leads")


class CallFlowEngine:
    def __init__(self, *, store: Store, bus: Bus, telephony: Telephony, event_log: EventLog, engine_id: str,
                 options: EngineOptions = EngineOptions(), clock: Callable[[], float] = time.monotonic,
                 webhooks: WebhookDispatcher | None = None) -> None:
        self.store = store
        self.bus = bus
        self.telephony = telephony
        self.event_log = event_log
        self.engine_id = engine_id
        self.options = options
        self.clock = clock
        self.queue = DialQueue(store)
        self.leases = Leases(store, engine_id)
        self.sessions: dict[int, LiveSession] = {}
        self._by_caller: dict[int, LiveSession] = {}
        self._dialers: dict[int, CampaignDialer] = {}
        self._owned: set[int] = set()
        self._campaign_lock = asyncio.Lock()
        self._dialer_lock = asyncio.Lock()
        self._outbox: asyncio.Queue[tuple[LiveSession, str, dict[str, Any]]] = asyncio.Queue()
        self._dirty: dict[int, LiveSession] = {}
        self._dirty_event = asyncio.Event()
        self._ended_at: dict[int, float] = {}
        self._typed: dict[int, collections.deque[float]] = {}
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._commands: set[asyncio.Task[Any]] = set()
        self._command_locks: dict[Any, asyncio.Lock] = {}
        self._dial_in = DialIn(telephony, self._resolve_pin, self._dialled_in, max_digits=SESSION_PIN_DIGITS)
        self.keypad_factory: Callable[[LiveSession], Any] | None = None
        self.supervisors = Supervisors(self)  # monitoring and kicks (see .supervision)
        self.floor = FloorReporter(self)  # what supervisors see (see .floor)
        self.outcome_listeners: list[Callable[[LiveCall], None]] = []  # every call's end, e.g. for /metrics
        self.recorder = CallRecorder(store, telephony, self.queue, public_url=options.public_url)
        self.jobs = CallJobs(self, webhooks=webhooks, allow_private=options.allow_private_urls)  # call-API jobs

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        from .keypad import KeypadFlow  # the keypad flow builds on the session

        self.keypad_factory = KeypadFlow
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publisher(), name="callflow-publisher"),
                       loop.create_task(self._persister(), name="callflow-persister")]
        self.telephony.add_claimer(self._claim)
        await self.jobs.start()
        await self.adopt()
        # What a dead engine left in Asterisk and nobody took back is hung up now (and after
        # every reconnect of the events socket from now on).
        self.telephony.reap_orphans_at_start()
        await self.supervisors.start()
        await self.floor.start()
        self._subscriptions = [await self.bus.subscribe(protocol.COMMANDS, self._on_command),
                               await self.bus.subscribe(protocol.PRESENCE, self._on_presence),
                               await self.bus.subscribe(protocol.CAMPAIGNS_CHANGED, self._on_campaign_changed)]
        self._dial_in.start()
        self._tasks.append(loop.create_task(self._maintain(), name="callflow-maintenance"))

    async def close(self) -> None:
        """Stop taking commands; calls stay up in Asterisk for the next engine to adopt."""
        self.telephony.remove_claimer(self._claim)
        self._dial_in.stop()
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        await asyncio.gather(*self._commands, return_exceptions=True)  # let commands under way finish
        for task in self._tasks[2:]:
            task.cancel()
        await asyncio.gather(*self._tasks[2:], return_exceptions=True)
        # First: stopping the dialers and sessions below must not end the recordings of the
        # calls handed over (the next engine resumes them).
        await self.recorder.close()
        for session in list(self.sessions.values()):
            await session.cancel_tasks()
        for dialer in list(self._dialers.values()):
            await dialer.stop(keep_connected=True)
        await self._drain()
        await self.jobs.close()
        for task in self._tasks[:2]:
            task.cancel()
        await asyncio.gather(*self._tasks[:2], return_exceptions=True)
        await self.floor.close()
        await self.supervisors.close()
        try:
            await self.leases.release(self._owned)
        except Exception as exc:  # the next engine waits for the leases to run out instead
            logger.warning("leases not released: %s", exc)

    async def _drain(self, timeout: float = 5.0) -> None:
        """Let queued events and state writes go out before stopping."""
        deadline = self.clock() + timeout
        while (not self._outbox.empty() or self._dirty) and self.clock() < deadline:
            await asyncio.sleep(0.01)

    # -- campaigns -----------------------------------------------------------------------------
    def dialer(self, campaign_id: int) -> CampaignDialer:
        return self._dialers[campaign_id]

    @property
    def dialers(self) -> dict[int, CampaignDialer]:
        """The campaigns this engine dials, by id (read only)."""
        return self._dialers

    def of_campaign(self, campaign_id: int) -> list[LiveSession]:
        return [s for s in self.sessions.values() if s.campaign.id == campaign_id and not s.ended]

    async def own(self, campaign_id: int) -> bool:
        """Whether this engine owns the campaign, taking it if nobody does."""
        if campaign_id in self._owned:
            return True
        async with self._campaign_lock:
            if campaign_id in self._owned:
                return True
            if not await self.leases.acquire(campaign_id):
                return False
            self._owned.add(campaign_id)
            await self._adopt_campaign(campaign_id)
            return True

    async def _ensure_dialer(self, campaign_id: int) -> CampaignDialer:
        dialer = self._dialers.get(campaign_id)
        if dialer is not None:
            return dialer
        # Sessions open concurrently: one dialer per campaign, made once.
        async with self._dialer_lock:
            dialer = self._dialers.get(campaign_id)
            if dialer is None:
                dialer = CampaignDialer(campaign_id, queue=self.queue, telephony=self.telephony,
                                        port=_Port(self, campaign_id), engine_id=self.engine_id,
                                        tick_seconds=self.options.tick_seconds, trunk_lines=self.options.trunk_lines)
                dialer.on_outcome(self._call_finished)
                await self.jobs.dialer_made(dialer)
                await dialer.start()
                self._dialers[campaign_id] = dialer
        return dialer

    def _call_finished(self, call: LiveCall) -> None:
        for listener in self.outcome_listeners:
            try:
                listener(call)
            except Exception:
                logger.exception("call outcome listener failed")
        session = self.sessions.get(call.session_id) if call.session_id is not None else None
        if session is not None:
            session.spawn(session.call_finished(call), f"call {call.call_id} finished")

    def moved(self, session: LiveSession, campaign: CampaignView) -> None:
        """A session changed campaign (reassigned); the new campaign's dialer must run."""
        if campaign.id not in self._dialers:
            raise CallFlowError("campaign-not-ready", "the new campaign is not running on this engine")
        self.persist(session)

    # -- commands ------------------------------------------------------------------------------
    async def _on_command(self, topic: str, message: Message) -> None:
        """Each command in a task of its own: one session waiting on the store or on Asterisk
        must not hold up everyone else's. A session's commands still run in the order they
        came (its lock is taken in that order; the web side also waits for each ack)."""
        key = message.get("session_id") or ("caller", message.get("caller_id"))
        lock = self._command_locks.get(key)
        if lock is None:
            lock = self._command_locks[key] = asyncio.Lock()
        task = asyncio.get_running_loop().create_task(self._command_in_turn(lock, key, message))
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    async def _command_in_turn(self, lock: asyncio.Lock, key: Any, message: Message) -> None:
        try:
            async with lock:
                await self._answer(message)
        finally:
            if not lock.locked() and self._command_locks.get(key) is lock:
                del self._command_locks[key]

    async def _answer(self, message: Message) -> None:
        reply_to = message.get("reply_to")
        try:
            reply = await self._handle(message)
        except CallFlowError as exc:
            reply = {"ok": False, "error": exc.as_json()}
        except Exception:
            logger.exception("command %r failed", message.get("command"))
            reply = protocol.error("engine-error", "The command failed; nothing was changed.")
        if reply is None or not isinstance(reply_to, str):
            return  # another engine's
        try:
            await self.bus.publish(reply_to, {"id": message.get("id"), "reply": reply})
        except BusError as exc:
            logger.warning("reply to %s lost: %s", reply_to, exc)

    async def _handle(self, message: Message) -> dict[str, Any] | None:
        command = message.get("command")
        account_id = message.get("account_id")
        if command == "attach":
            return await self._attach(account_id, message.get("caller_id"))
        session_id = message.get("session_id")
        session = self.sessions.get(session_id) if isinstance(session_id, int) else None
        if session is None:
            found = await self._find(session_id)
            if found is False:
                return None  # another engine owns it, and answers
            if found is None:
                return protocol.error("no-such-session", "There is no such caller session.")
            session = found
        if session.account_id != account_id or (
                message.get("caller_id") is not None and session.caller.id != message.get("caller_id")):
            return protocol.error("no-such-session", "There is no such caller session.")
        payload = message.get("payload")
        if not isinstance(payload, dict):
            raise CallFlowError("invalid-payload", "the payload must be an object")
        session.touch()
        if command == "snapshot":
            return protocol.ok(snapshot=session.snapshot(await self.event_log.last_seq(session.id)))
        if command == "end":
            reason = payload.get("reason")
            if reason not in ("kicked", "signed_out"):
                raise CallFlowError("invalid-payload", "end takes a reason: kicked or signed_out")
            if reason == "kicked":
                return protocol.ok(**await self.supervisors.kick(session))
            async with session.lock:
                await session.end(reason)
            return protocol.ok()
        if command == "reassign":
            return protocol.ok(**await self.reassign(session, payload.get("campaign_id")))
        if command in supervision.COMMANDS:
            return protocol.ok(**await self.supervisors.command(session, command, payload, message))
        if not isinstance(command, str):
            raise CallFlowError("unknown-command", "the command has no name")
        if command in self.jobs.commands:
            return protocol.ok(**await self.jobs.commands[command](session, payload))
        return protocol.ok(**await session.command(command, payload))

    async def _find(self, session_id: Any) -> LiveSession | bool | None:
        """A session this engine does not hold: adopt it if its campaign is ours to take.
        False: another engine owns it (and answers); None: no such session."""
        if not isinstance(session_id, int) or isinstance(session_id, bool):
            return None
        async with self.store.sessions() as db:
            row = await db.get(CallerSession, session_id)
        if row is None:
            return None
        if not await self.own(row.campaign_id):
            return False
        return self.sessions.get(session_id) or await self._adopt_ended(row)

    async def _attach(self, account_id: Any, caller_id: Any) -> dict[str, Any] | None:
        """A caller's page connected: their live session, or a new one."""
        async with self.store.sessions() as db:
            caller = await db.get(Caller, caller_id) if isinstance(caller_id, int) else None
        if caller is None or caller.account_id != account_id or not caller.active:
            return protocol.error("caller-inactive", "This caller cannot work now.")
        if caller.campaign_id is None:
            return protocol.error("no-campaign", "You are not assigned to a campaign.")
        session = self._by_caller.get(caller.id)
        if session is None or (session.ended and session.pending is None):
            existing = await self._live_row(caller.id)
            campaign_id = existing.campaign_id if existing is not None else caller.campaign_id
            if not await self.own(campaign_id):
                return None  # the engine that owns the campaign answers
            session = self._by_caller.get(caller.id)
            if session is None or (session.ended and session.pending is None):
                session = await self._open(caller)
        session.touch()
        return protocol.ok(session_id=session.id, state=session.state.value, campaign_id=session.campaign.id)

    async def _live_row(self, caller_id: int) -> CallerSession | None:
        async with self.store.sessions() as db:
            return await db.scalar(select(CallerSession).where(
                CallerSession.caller_id == caller_id, CallerSession.status != CallerSessionStatus.ENDED)
                .order_by(CallerSession.id.desc()).limit(1))

    async def _open(self, caller: Caller, *, state: State = State.READY) -> LiveSession:
        campaign = await load_campaign(self.store, caller.campaign_id, caller.account_id)
        if not campaign.active:
            raise CallFlowError("campaign-inactive", "Your campaign is not active.")
        await self._ensure_dialer(campaign.id)
        now = utcnow()
        async with self.store.transaction() as db:
            pin = await self._unique_pin(db)
            while self.supervisors.pin_taken(pin):  # a supervisor's PIN, live in memory only
                pin = await self._unique_pin(db)
            row = CallerSession(account_id=caller.account_id, caller_id=caller.id, campaign_id=campaign.id,
                                status=state.stored, started_at=now, state_since=now, pin=pin)
            db.add(row)
            await db.flush()
            row.conference_bridge_id = f"conf-{row.id}"
        session = LiveSession(self, session_id=row.id, account_id=caller.account_id, caller=_caller_info(caller),
                              campaign=campaign, pin=pin, state=state)
        self._hold(session)
        session.announce()
        if campaign.hours.is_open(now):
            session.emit(events.CALLING_HOURS, open=True, closes_at=_iso(campaign.hours.closes_at(now)),
                         opens_at=None)
        else:
            session.emit(events.CALLING_HOURS, open=False, closes_at=None, opens_at=_iso(campaign.hours.opens_at(now)))
        logger.info("session %s opened for caller %s on campaign %s", row.id, caller.id, campaign.id)
        return session

    def _hold(self, session: LiveSession) -> None:
        self.sessions[session.id] = session
        self._by_caller[session.caller.id] = session

    @staticmethod
    async def _unique_pin(db) -> str:
        while True:
            pin = f"{secrets.randbelow(10 ** SESSION_PIN_DIGITS):0{SESSION_PIN_DIGITS}d}"
            taken = await db.scalar(select(exists().where(
                CallerSession.pin == pin, CallerSession.status != CallerSessionStatus.ENDED)))
            if not taken:
                return pin

    async def reassign(self, session: LiveSession, campaign_id: Any) -> dict[str, Any]:
        if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
            raise CallFlowError("invalid-payload", "campaign_id must be a campaign's id")
        campaign = await load_campaign(self.store, campaign_id, session.account_id)
        if not campaign.active:
            raise CallFlowError("campaign-inactive", "that campaign is not active")
        if not await self.own(campaign_id):
            raise CallFlowError("campaign-elsewhere", "that campaign runs on another engine")
        await self._ensure_dialer(campaign_id)
        async with session.lock:
            if session.ended:
                raise CallFlowError("session-ended", "the session has ended")
            session.reassign(campaign)
            if session.state in (State.ON_HOLD, State.PREVIEWING):
                if session.state is State.PREVIEWING:
                    session.household = None
                await session.next_lead("reassigned")
        return {"campaign_id": campaign_id, "effective": "now" if session.campaign.id == campaign_id else "after_call"}

    # -- what sessions ask of the engine --------------------------------------------------------
    def dial_in_details(self, pin: str) -> dict[str, str]:
        return {"number": self.options.dial_in_number, "pin": pin}

    def settings_caller_id(self, campaign: CampaignView) -> str | None:
        return campaign.caller_id or self.options.caller_id or None

    async def calling_hours_closed(self, campaign: CampaignView) -> str | None:
        """None while the campaign may call; else why not, saying when it opens."""
        now = utcnow()
        if campaign.hours.is_open(now):
            return None
        opens = campaign.hours.opens_at(now)
        return f"calling hours are over; they open at {_iso(opens)}" if opens else "the campaign has no calling hours"

    async def typed_phone_endpoint(self, session: LiveSession, phone: str) -> str:
        """The endpoint for a number a caller typed at ``start``, checked like any number."""
        try:
            number = to_e164(phone)
        except InvalidPhoneNumber as exc:
            raise CallFlowError("invalid-phone-number", f"that is not a phone number ({exc.reason})") from None
        async with self.store.sessions() as db:
            blocked = await db.scalar(select(exists().where(
                BlockedNumber.account_id == session.account_id, BlockedNumber.phone == number,
                (BlockedNumber.campaign_id.is_(None)) | (BlockedNumber.campaign_id == session.campaign.id))))
        if blocked:
            raise CallFlowError("number-blocked", "that number may not be called")
        now = self.clock()
        recent = self._typed.setdefault(session.caller.id, collections.deque())
        while recent and now - recent[0] > 3600:
            recent.popleft()
        if len(recent) >= TYPED_PHONES_PER_HOUR:
            raise CallFlowError("rate-limited", "too many numbers typed in the last hour; try again later")
        recent.append(now)
        try:
            return self.telephony.dial_template.endpoint(number)
        except TelephonyError as exc:
            raise CallFlowError("invalid-phone-number", str(exc)) from None

    async def store_results(self, session: LiveSession, pending: Pending, submission: results.Submission) -> bool:
        """Check and commit a call's results with the household's fate; True when a
        response asks for the lead again."""
        retry = results.check(submission, pending.campaign, pending.lead_ids)

        async def write(db) -> None:
            await results.write(db, attempt_id=pending.attempt_id, account_id=session.account_id,
                                campaign_id=pending.campaign.id, caller_id=session.caller.id, submission=submission)

        await pending.dialer.wrap_up(pending.call_id, retry=retry, completed_lead_ids=[submission.lead_id],
                                     results=write, attempt_id=pending.attempt_id)
        return retry

    async def stored_submission(self, session: LiveSession, submission: results.Submission) -> dict[str, Any] | None:
        """The ack of a submit already stored under the same key for this session's call."""
        async with self.store.sessions() as db:
            attempt = await db.scalar(select(CallAttempt).where(
                CallAttempt.caller_session_id == session.id, CallAttempt.channel_id == f"lead-{submission.call_id}",
                CallAttempt.results_key == submission.key))
            if attempt is None:
                return None
            retry = await results_ask_retry(db, attempt.id)
        return {"call_id": submission.call_id, "lead_id": attempt.lead_id, "retry": retry}

    async def record_transfer(self, session: LiveSession, call: LiveCall, option: TransferOption,
                              transfer: Transfer) -> int:
        async with self.store.transaction() as db:
            row = TransferAttempt(account_id=session.account_id, call_attempt_id=call.attempt_id,
                                  transfer_id=option.id, caller_session_id=session.id, transfer_type=option.kind,
                                  phone=option.phone, channel_id=transfer.party.id if transfer.party else None,
                                  bridge_id=transfer.bridge_id, status="dialing", started_at=utcnow())
            db.add(row)
            await db.flush()
            return row.id

    async def update_transfer(self, active: ActiveTransfer, *, status: str) -> None:
        if active.attempt_id is None:
            return
        values: dict[str, Any] = {"status": status}
        values["answered_at" if status == "connected" else "ended_at"] = utcnow()
        async with self.store.transaction() as db:
            await db.execute(update(TransferAttempt).where(TransferAttempt.id == active.attempt_id).values(**values))

    def session_ended(self, session: LiveSession) -> None:
        # Kept a while: its page may still submit the last call's results, or repeat a submit.
        self._ended_at[session.id] = self.clock()

    def _forget(self, session: LiveSession) -> None:
        self.sessions.pop(session.id, None)
        self._ended_at.pop(session.id, None)
        if self._by_caller.get(session.caller.id) is session:
            del self._by_caller[session.caller.id]

    # -- events and state out -------------------------------------------------------------------
    def publish(self, session: LiveSession, name: str, payload: dict[str, Any]) -> None:
        self._outbox.put_nowait((session, name, payload))
        if events.CATALOGUE[name].audience & events.Audience.SUPERVISOR:
            self.floor.touched(session)  # only what supervisors see changes a floor row
        if name == events.SESSION_ENDED.name:
            self.supervisors.session_ended(session)
        self.jobs.session_event(session, name, payload)  # call-API jobs notify their integrator

    async def _publisher(self) -> None:
        """One writer keeps every session's events in order: numbered, kept, then sent.

        What queued up meanwhile goes out together: one bus message for the lot, so a busy
        floor costs one encoding and one hop per batch, not per event."""
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < PUBLISH_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            logged = await self._append([(session.id, name, payload) for session, name, payload in batch])
            numbered = [{"account_id": session.account_id, "campaign_id": session.campaign.id,
                         "caller_id": session.caller.id, **event} for (session, _, _), event in zip(batch, logged)]
            try:
                await self.bus.publish(protocol.EVENTS, {"events": numbered})
            except BusError as exc:
                # Kept in the log: a page that resyncs still gets them.
                logger.warning("%d event(s) not sent: %s", len(numbered), exc)

    async def _append(self, events: list[tuple[int, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        delay = 0.05
        while True:
            try:
                return await self.event_log.append_many(events)
            except EventLogUnavailable as exc:
                logger.warning("%d event(s) wait for the event log: %s", len(events), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def persist(self, session: LiveSession) -> None:
        self._dirty[session.id] = session
        self._dirty_event.set()

    async def _persister(self) -> None:
        """Session states to the store, the latest of each, behind the events."""
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            batch, self._dirty = self._dirty, {}
            try:
                async with self.store.transaction() as db:
                    for session in batch.values():
                        values: dict[str, Any] = {
                            "status": session.state.stored, "campaign_id": session.campaign.id,
                            "state_since": utcnow() - dt.timedelta(seconds=self.clock() - session.state_since)}
                        if session.conference is not None and session.conference.caller is not None:
                            values["caller_channel_id"] = session.conference.caller.id
                        if session.ended:
                            values.update(ended_at=utcnow(), end_reason=session.end_reason)
                        await db.execute(update(CallerSession).where(CallerSession.id == session.id).values(**values))
            except Exception:
                logger.exception("caller session states not stored; retrying")
                for session_id, session in batch.items():
                    self._dirty.setdefault(session_id, session)
                self._dirty_event.set()
                await asyncio.sleep(1.0)

    # -- presence, expiry, leases ---------------------------------------------------------------
    async def _on_presence(self, topic: str, message: Message) -> None:
        for session_id in message.get("sessions") or ():
            session = self.sessions.get(session_id) if isinstance(session_id, int) else None
            if session is not None:
                session.touch()

    async def _maintain(self) -> None:
        last_renewal = self.clock()
        while True:
            await asyncio.sleep(self.options.maintenance_seconds)
            try:
                await self.expire()
                if self.clock() - last_renewal >= RENEW_SECONDS:
                    last_renewal = self.clock()
                    await self._renew()
            except Exception:
                logger.exception("caller-flow maintenance failed")

    async def expire(self) -> None:
        """End sessions nobody is at any more; give up on results owed too long; forget
        ended sessions. Runs every few seconds."""
        now = self.clock()
        for session in list(self.sessions.values()):
            if session.ended:
                ended = self._ended_at.setdefault(session.id, now)
                if session.pending is not None and now - ended > self.options.pending_seconds:
                    await self._give_up_results(session)
                if session.pending is None and now - ended > ENDED_KEEP_SECONDS:
                    self._forget(session)
                    await self.event_log.forget(session.id)
                continue
            if session.idle_for(now) <= self.options.grace_seconds or session.phone_up:
                continue
            if session.state is State.CONNECTING and not session.waiting_for_dial_in:
                continue  # its phone is ringing
            async with session.lock:
                if not session.ended:
                    logger.info("session %s expired: no page and no phone for %.0f s", session.id,
                                session.idle_for(now))
                    await session.end("expired")

    async def _give_up_results(self, session: LiveSession) -> None:
        pending = session.pending
        assert pending is not None
        session.pending = None
        try:
            await pending.dialer.wrap_up(pending.call_id, retry=True, attempt_id=pending.attempt_id)
        except Exception:
            logger.exception("session %s: settling call %s without results failed", session.id, pending.call_id)

    async def _renew(self) -> None:
        kept = await self.leases.renew(self._owned)
        for campaign_id in self._owned - kept:
            logger.error("campaign %s was taken by another engine; letting its sessions go", campaign_id)
            for session in [s for s in self.sessions.values() if s.campaign.id == campaign_id]:
                await session.cancel_tasks()
                self.sessions.pop(session.id, None)
            dialer = self._dialers.pop(campaign_id, None)
            if dialer is not None:
                await dialer.stop()
                await self.jobs.dialer_stopped(campaign_id)
        self._owned &= kept
        # Campaigns nobody works any more: stop dialling them.
        for campaign_id in list(self._dialers):
            busy = any(s.campaign.id == campaign_id for s in self.sessions.values())
            if not busy and not self._dialers[campaign_id].calls:
                await self._dialers.pop(campaign_id).stop()
                await self.jobs.dialer_stopped(campaign_id)

    # -- dial-in ---------------------------------------------------------------------------------
    async def _resolve_pin(self, pin: str) -> DialInTarget | None:
        for session in self.sessions.values():
            if session.pin == pin and session.state is State.CONNECTING and session.waiting_for_dial_in:
                return DialInTarget(str(session.id), str(session.campaign.id))
        if len(pin) != SESSION_PIN_DIGITS:
            return await self._phones_only(pin)
        return self.supervisors.resolve_pin(pin)

    async def _phones_only(self, pin: str) -> DialInTarget | None:
        """A phones-only caller dialled in with their own PIN: a session for them."""
        async with self.store.sessions() as db:
            callers = list(await db.scalars(select(Caller).where(
                Caller.pin == pin, Caller.phones_only.is_(True), Caller.active.is_(True),
                Caller.campaign_id.is_not(None)).limit(2)))
        if len(callers) != 1:
            return None  # unknown, or the same PIN in two accounts: never guess whose
        caller = callers[0]
        live = self._by_caller.get(caller.id)
        if live is not None and not live.ended:
            async with live.lock:
                await live.end("stopped")  # one phone per caller: the newest call wins
        if not await self.own(caller.campaign_id):
            return None
        try:
            session = await self._open(caller, state=State.CONNECTING)
        except CallFlowError as exc:
            logger.info("phones-only caller %s refused: %s", caller.id, exc)
            return None
        session.waiting_for_dial_in = True
        return DialInTarget(str(session.id), str(session.campaign.id))

    async def _dialled_in(self, result: DialInResult) -> None:
        if result.outcome is not DialInEnd.JOINED or result.target is None or result.conference is None:
            return
        session = self.sessions.get(int(result.target.session_id))
        if session is None:
            await result.conference.close()
            return
        async with session.lock:
            if session.state is not State.CONNECTING:
                await result.conference.close()
                return
            if session.caller.phones_only and self.keypad_factory is not None:
                session.keypad = self.keypad_factory(session)
            await session.joined(result.conference)

    # -- taking back what a stopped engine left ---------------------------------------------------
    async def adopt(self) -> None:
        """At start: every campaign with live sessions that no live engine holds is ours now,
        with its sessions and the calls Asterisk still has."""
        async with self.store.sessions() as db:
            campaign_ids = set(await db.scalars(select(CallerSession.campaign_id).where(
                CallerSession.status != CallerSessionStatus.ENDED).distinct()))
        for campaign_id in sorted(campaign_ids):
            try:
                await self.own(campaign_id)
            except Exception:
                logger.exception("campaign %s not taken back", campaign_id)

    async def _adopt_campaign(self, campaign_id: int) -> None:
        async with self.store.sessions() as db:
            rows = list(await db.scalars(select(CallerSession).where(
                CallerSession.campaign_id == campaign_id, CallerSession.status != CallerSessionStatus.ENDED)))
        if not rows:
            return
        await self._ensure_dialer(campaign_id)
        try:
            found = await self.telephony.survey()
        except (TelephonyError, AriError) as exc:
            logger.warning("campaign %s: cannot see Asterisk's calls (%s); its sessions end", campaign_id, exc)
            found = []
        by_session: dict[str, list[LiveChannel]] = collections.defaultdict(list)
        for channel in found:
            by_session[channel.role.session_id].append(channel)
        for row in rows:
            if row.id in self.sessions:
                continue
            try:
                await self._adopt_session(row, by_session.get(str(row.id), []))
            except Exception:
                logger.exception("session %s not taken back", row.id)

    async def _adopt_session(self, row: CallerSession, channels: list[LiveChannel]) -> None:
        async with self.store.sessions() as db:
            caller = await db.get(Caller, row.caller_id)
        campaign = await load_campaign(self.store, row.campaign_id)
        state = State.from_stored(row.status)
        session = LiveSession(self, session_id=row.id, account_id=row.account_id, caller=_caller_info(caller),
                              campaign=campaign, pin=row.pin or "", state=state)
        self._hold(session)
        caller_leg = next((c for c in channels if c.role.role is Role.CALLER), None)
        lead = next((c for c in channels if c.role.role is Role.LEAD), None)
        async with session.lock:
            if caller_leg is not None:
                try:
                    session.conference = await Conference.recover(self.telephony, caller_leg)
                except ConferenceClosed:
                    await _hang_up(self.telephony, caller_leg.channel.id)
            pending = await self._unsaved_call(session)
            if session.conference is None:
                if lead is not None:
                    await _hang_up(self.telephony, lead.channel.id)
                if state in (State.READY, State.CONNECTING):
                    session.set_state(State.READY, "recovered")
                    return
                session.pending = pending
                await session.end("phone_hung_up")
                return
            session.conference.caller.ended.add_done_callback(
                lambda done: session.locked(lambda: session._phone_gone(), "phone hung up"))
            if session.caller.phones_only and self.keypad_factory is not None:
                session.keypad = self.keypad_factory(session)
            if lead is not None and await self._adopt_lead(session, lead):
                session.set_state(State.ON_CALL, "recovered")
            elif pending is not None:
                session.pending = pending
                session.set_state(State.WRAP_UP, "recovered")
                if session.keypad is not None:
                    session.keypad.wrap_up(pending)
            else:
                await session.next_lead("recovered")
        logger.info("session %s taken back in state %s", session.id, session.state.value)

    async def _adopt_lead(self, session: LiveSession, lead: LiveChannel) -> bool:
        async with self.store.sessions() as db:
            attempt = await db.scalar(select(CallAttempt).where(CallAttempt.channel_id == lead.channel.id))
        household = await self.queue.household(attempt.household_id) if attempt is not None else None
        if attempt is None or household is None or session.conference is None:
            await _hang_up(self.telephony, lead.channel.id)
            return False
        leg = await LeadLeg.adopt(self.telephony, lead.channel.id, lead.role, bridge_id=lead.bridge_id, label=False)
        assert isinstance(leg, LeadLeg)
        if leg.ended.done():
            return False
        if lead.bridge_id != session.conference.bridge_id:
            try:
                await session.conference.add(leg)  # it was in a transfer bridge that is gone
            except (TelephonyError, AriError):
                await leg.hangup()
                return False
        call = session.dialer.adopt_call(call_id=lead.role.call_id, attempt_id=attempt.id, household=household,
                                         leg=leg, session_id=session.id)
        session.call, session.household = call, household
        leg.ended.add_done_callback(
            lambda done: session.locked(lambda: session._lead_gone(call, done.result()), "lead hung up"))
        self.recorder.resume(session.conference.bridge_id, call)  # if the engine before us recorded it
        return True

    async def _unsaved_call(self, session: LiveSession) -> Pending | None:
        """The session's last conversation whose results were never saved."""
        async with self.store.sessions() as db:
            attempt = await db.scalar(select(CallAttempt).where(
                CallAttempt.caller_session_id == session.id, CallAttempt.connected_at.is_not(None),
                CallAttempt.wrapped_up_at.is_(None),
                CallAttempt.status.in_([CallStatus.CONNECTED, CallStatus.COMPLETED]))
                .order_by(CallAttempt.id.desc()).limit(1))
        if attempt is None:
            return None
        household = await self.queue.household(attempt.household_id)
        if household is None:
            return None
        dialer = await self._ensure_dialer(session.campaign.id)
        call_id = (attempt.channel_id or "").removeprefix("lead-")
        return Pending(call_id, attempt.id, household_json(household), tuple(lead.id for lead in household.leads),
                       session.campaign, dialer)

    async def _adopt_ended(self, row: CallerSession) -> LiveSession | None:
        """An ended session that may still owe results (its phone dropped mid-call)."""
        async with self.store.sessions() as db:
            caller = await db.get(Caller, row.caller_id)
        campaign = await load_campaign(self.store, row.campaign_id)
        session = LiveSession(self, session_id=row.id, account_id=row.account_id, caller=_caller_info(caller),
                              campaign=campaign, pin=row.pin or "", state=State.from_stored(row.status))
        if row.status is CallerSessionStatus.ENDED:
            session.end_reason = row.end_reason
            session.pending = await self._unsaved_call(session)
            if session.pending is None:
                return session  # answers "no call waiting for results", holds nothing
            self.sessions[session.id] = session
            self._ended_at[session.id] = self.clock()
            return session
        await self._adopt_session(row, [c for c in await self.telephony.survey()
                                        if c.role.session_id == str(row.id)])
        return self.sessions.get(row.id)

    async def _claim(self, channels: list[LiveChannel], bridges: list[Bridge]) -> set[str]:
        """For the reaper: of our calls this engine does not hold, keep those of campaigns
        another live engine owns; the rest were left by a dead engine and not taken back."""
        elsewhere = await self.leases.held_elsewhere()
        if not elsewhere:
            return set()
        unknown = [c.channel.id for c in channels if not c.role.campaign_id.isdigit()]
        sessions = [int(b.id.removeprefix("conf-")) for b in bridges
                    if b.id.startswith("conf-") and b.id.removeprefix("conf-").isdigit()]
        async with self.store.sessions() as db:
            by_call = dict((await db.execute(select(CallAttempt.channel_id, CallAttempt.campaign_id).where(
                CallAttempt.channel_id.in_(unknown)))).all()) if unknown else {}
            by_session = dict((await db.execute(select(CallerSession.id, CallerSession.campaign_id).where(
                CallerSession.id.in_(sessions)))).all()) if sessions else {}
        keep = set()
        for live in channels:
            campaign = int(live.role.campaign_id) if live.role.campaign_id.isdigit() else by_call.get(live.channel.id)
            if campaign in elsewhere:
                keep.add(live.channel.id)
        for bridge in bridges:
            if by_session.get(int(bridge.id.removeprefix("conf-")) if bridge.id.removeprefix("conf-").isdigit()
                              else -1) in elsewhere:
                keep.add(bridge.id)
        return keep

    # -- admins' changes --------------------------------------------------------------------------
    async def _on_campaign_changed(self, topic: str, message: Message) -> None:
        """A campaign or its script was edited: sessions see the new script from the next lead."""
        campaign_ids = {s.campaign.id for s in self.sessions.values() if not s.ended}
        wanted = message.get("campaign_id")
        script_id = message.get("script_id")
        for campaign_id in campaign_ids:
            sessions = self.of_campaign(campaign_id)
            if not sessions or (wanted is not None and wanted != campaign_id) or (
                    script_id is not None and sessions[0].campaign.script.get("id") != script_id):
                continue
            try:
                campaign = await load_campaign(self.store, campaign_id)
            except CallFlowError:
                continue
            dialer = self._dialers.get(campaign_id)
            if dialer is not None:
                dialer.reload()
            for session in sessions:
                if campaign.script != session.campaign.script:
                    session.script_changed(campaign)
                else:
                    session.campaign = campaign


def _caller_info(caller: Caller) -> CallerInfo:
    return CallerInfo(caller.id, caller.name or caller.username, caller.username, caller.phones_only,
                      caller.phone_endpoint)


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if at is not None else None


async def _hang_up(telephony: Telephony, channel_id: str) -> None:
    try:
        await telephony.client.hangup(channel_id)
    except NoSuchChannel:
        pass
    except AriError as exc:
        logger.warning("channel %s not hung up: %s", channel_id, exc)
