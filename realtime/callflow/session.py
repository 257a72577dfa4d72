"""One caller session on the engine: its state machine, from ``start`` to ``session_ended``.

A session lives in the engine that owns its campaign. Commands arrive through
:meth:`LiveSession.command` (from the bus, see :mod:`.engine`); the dialer hands it
answered calls through :meth:`connect` and tells it how unanswered ones ended through
:meth:`call_finished`; the phone legs tell it when they hang up. Each of those takes the
session's lock, so a command never sees a half-made change, and each emits the events
that say what changed (see :mod:`.events`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from realtime.dialer.campaign_dialer import CampaignDialer, DialerError, LiveCall
from realtime.dialer.queue import DialRefused, ReservedHousehold
from realtime.store.models import CallStatus, DialerMode
from realtime.telephony import (
    CallEnded,
    CallerUnreachable,
    Conference,
    ConferenceClosed,
    DialFailed,
    EndedBy,
    LegEnd,
    TelephonyError,
    Transfer,
    TransferEnd,
)
from realtime.telephony.ari import AriError

from . import events
from .campaigns import CampaignView, TransferOption
from .errors import CallFlowError, wrong_state
from .households import household_json
from .results import parse_submission
from .states import ALLOWED, State

if TYPE_CHECKING:
    from .engine import CallFlowEngine

logger = logging.getLogger(__name__)

# The dialer's outcome -> what ``call_ended {status}`` says.
STATUS = {
    CallStatus.COMPLETED: "completed", CallStatus.BUSY: "busy", CallStatus.NO_ANSWER: "no_answer",
    CallStatus.FAILED: "failed", CallStatus.MACHINE: "machine", CallStatus.VOICEMAIL_LEFT: "voicemail_left",
    CallStatus.ABANDONED: "abandoned",
}
PHONE_RING_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class CallerInfo:
    id: int
    name: str
    username: str
    phones_only: bool
    phone_endpoint: str | None

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "username": self.username}


@dataclasses.dataclass
class Pending:
    """A connected call whose survey results the caller still owes."""

    call_id: str
    attempt_id: int
    household: dict[str, Any]
    lead_ids: tuple[int, ...]
    campaign: CampaignView  # the script as it was during the call: the results answer it
    dialer: CampaignDialer


@dataclasses.dataclass
class ActiveTransfer:
    transfer: Transfer
    kind: str
    label: str
    attempt_id: int | None = None


class LiveSession:
    def __init__(self, engine: CallFlowEngine, *, session_id: int, account_id: int, caller: CallerInfo,
                 campaign: CampaignView, pin: str, state: State = State.READY) -> None:
        self.engine = engine
        self.id = session_id
        self.account_id = account_id
        self.caller = caller
        self.campaign = campaign
        self.pin = pin
        self.state = state
        self.state_since = engine.clock()
        self.conference: Conference | None = None
        self.household: ReservedHousehold | None = None  # presented, dialling or on the call
        self.call: LiveCall | None = None
        self.pending: Pending | None = None
        self.transfer: ActiveTransfer | None = None
        self.next_campaign: CampaignView | None = None  # reassigned: takes effect after the call
        self.end_after_call: str | None = None  # calling hours over, no leads: after the call
        self.end_reason: str | None = None
        self.waiting_for_dial_in = False
        self.last_seen = engine.clock()
        self.submitted: dict[str, dict[str, Any]] = {}  # idempotency key -> the first ack
        self.lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._hangup_requested: str | None = None  # the call the caller hung up on
        self._transfers = 0
        self.keypad = None  # phones-only callers: their keypad flow (see .keypad)

    def __repr__(self) -> str:
        return f"<LiveSession {self.id} caller={self.caller.id} {self.state.value}>"

    @property
    def dialer(self) -> CampaignDialer:
        return self.engine.dialer(self.campaign.id)

    @property
    def ended(self) -> bool:
        return self.state is State.ENDED

    @property
    def phone_up(self) -> bool:
        caller = self.conference.caller if self.conference is not None else None
        return caller is not None and not caller.ended.done()

    # -- events ------------------------------------------------------------------------------
    def emit(self, event: events.EventType, **payload: Any) -> None:
        self.engine.publish(self, event.name, event.payload(**payload))

    def set_state(self, state: State, reason: str) -> None:
        previous = self.state
        self.state = state
        self.state_since = self.engine.clock()
        self.emit(events.STATE_CHANGED, state=state.value, previous=previous.value, reason=reason)
        self.engine.persist(self)

    def announce(self) -> None:
        """``session_started``: who, which campaign, the script, and how to dial in."""
        self.emit(events.SESSION_STARTED, caller=self.caller.json(), campaign=self.campaign.json(),
                  script=self.campaign.script, dial_in=self.engine.dial_in_details(self.pin))

    def snapshot(self, last_seq: int) -> dict[str, Any]:
        call = None
        if self.call is not None:
            call = {"call_id": self.call.call_id, "status": "connected" if self.state in (
                State.ON_CALL, State.TRANSFER) else "dialing"}
        elif self.pending is not None:
            call = {"call_id": self.pending.call_id, "status": "wrap_up", "lead_ids": list(self.pending.lead_ids)}
        household = (household_json(self.household) if self.household is not None
                     else self.pending.household if self.pending is not None else None)
        transfer = None
        if self.transfer is not None:
            transfer = {"transfer_id": self.transfer.transfer.id, "kind": self.transfer.kind,
                        "label": self.transfer.label,
                        "connected": self.transfer.transfer.connected.done()
                        and not self.transfer.transfer.connected.exception()}
        return events.SNAPSHOT.payload(
            state=self.state.value, household=household, call=call, transfer=transfer,
            campaign=self.campaign.json(), script=self.campaign.script, last_seq=last_seq)

    # -- background work -----------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run ``coro`` beside the commands; a failure is logged with what it was doing."""
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("session %s: %s failed", self.id, what)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"session-{self.id}:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def locked(self, coro_fn: Callable[[], Coroutine[Any, Any, Any]], what: str) -> None:
        """Run a reaction to a call event under the session's lock, off the event's task."""
        async def run() -> None:
            async with self.lock:
                await coro_fn()

        self.spawn(run(), what)

    async def cancel_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- commands ------------------------------------------------------------------------------
    async def command(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Carry out a caller's command; raises :class:`CallFlowError` and changes nothing
        when it cannot."""
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None or name not in ALLOWED:
            raise CallFlowError("unknown-command", f"there is no command {name!r}")
        async with self.lock:
            if self.state not in ALLOWED[name]:
                raise wrong_state(name, self.state.value)
            return await handler(payload)

    async def _cmd_start(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload, "phone", "dial_in")
        phone, dial_in = payload.get("phone"), payload.get("dial_in", False)
        if not isinstance(dial_in, bool) or (phone is not None and not isinstance(phone, str)):
            raise CallFlowError("invalid-payload", "start takes {phone?: string, dial_in?: boolean}")
        if phone is not None and dial_in:
            raise CallFlowError("invalid-payload", "give a phone number or dial in, not both")
        closed = await self.engine.calling_hours_closed(self.campaign)
        if closed is not None:
            raise CallFlowError("outside-calling-hours", closed)
        if dial_in:
            self.waiting_for_dial_in = True
            self.set_state(State.CONNECTING, "waiting_for_dial_in")
            return {"dial_in": self.engine.dial_in_details(self.pin)}
        if phone is not None:
            endpoint = await self.engine.typed_phone_endpoint(self, phone)
        elif self.caller.phone_endpoint:
            endpoint = self.caller.phone_endpoint
        else:
            raise CallFlowError("no-phone", "give the number to call you at, or dial in")
        self.set_state(State.CONNECTING, "calling_your_phone")
        self.spawn(self._ring_caller(endpoint), "ringing the caller's phone")
        return {}

    async def _ring_caller(self, endpoint: str) -> None:
        try:
            conference = await Conference.open(
                self.engine.telephony, str(self.id), str(self.campaign.id), endpoint,
                caller_id=self.engine.settings_caller_id(self.campaign), ring_timeout=PHONE_RING_SECONDS,
                moh_class=None)
        except (CallerUnreachable, TelephonyError, AriError) as exc:
            logger.info("session %s: caller's phone %s not reached: %s", self.id, endpoint, exc)
            async with self.lock:
                if self.state is State.CONNECTING:
                    self.set_state(State.READY, "phone_unanswered")
            return
        async with self.lock:
            if self.state is not State.CONNECTING:  # stopped meanwhile
                await conference.close()
                return
            await self.joined(conference)

    async def joined(self, conference: Conference) -> None:
        """The caller's phone is in the conference (called or dialled in): first lead."""
        self.conference = conference
        self.waiting_for_dial_in = False
        caller = conference.caller
        assert caller is not None
        caller.ended.add_done_callback(lambda done: self.locked(lambda: self._phone_gone(), "phone hung up"))
        self.engine.persist(self)
        await self.next_lead("joined")

    async def _cmd_dial(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload)
        await self._dial()
        return {"call_id": self.call.call_id} if self.call is not None else {}

    async def _cmd_skip(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload)
        await self.dialer.skip_preview(self.id)
        self.household = None
        await self.next_lead("skipped")
        return {}

    async def _cmd_hangup(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload)
        call = self.call
        if call is None or call.leg is None:
            raise CallFlowError("not-on-call", "there is no call to hang up")
        self._hangup_requested = call.call_id
        await call.leg.hangup()
        return {"call_id": call.call_id}

    async def _cmd_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload, "transfer_id")
        transfer_id = _int(payload.get("transfer_id"), "transfer_id")
        option = self.campaign.transfers.get(transfer_id)
        if option is None:
            raise CallFlowError("no-such-transfer", f"the script has no transfer {transfer_id}")
        return await self.transfer_to(option)

    async def transfer_to(self, option: TransferOption) -> dict[str, Any]:
        """Transfer the call to the option's party (the lock is held; a call-API caller's
        transfer names its number instead of a script's transfer)."""
        call = self.call
        if call is None or call.leg is None or self.conference is None:
            raise CallFlowError("not-on-call", "there is no call to transfer")
        self._transfers += 1
        reference = f"{self.id}-{self._transfers}-{secrets.token_hex(2)}"
        try:
            transfer = await Transfer.start(
                self.engine.telephony, self.conference, call.leg, option.phone, option.kind,
                transfer_id=reference, caller_id=self.engine.settings_caller_id(self.campaign),
                ring_timeout=self.campaign.ring_timeout)
        except (TelephonyError, AriError) as exc:
            raise CallFlowError(getattr(exc, "error_id", "transfer-failed"), f"the transfer failed: {exc}") from None
        active = ActiveTransfer(transfer, option.kind, option.label)
        self.transfer = active
        active.attempt_id = await self.engine.record_transfer(self, call, option, transfer)
        self.set_state(State.TRANSFER, f"{option.kind}_transfer")
        self.emit(events.TRANSFER_DIALING, transfer_id=transfer.id, kind=option.kind, label=option.label)
        self.spawn(self._follow_transfer(active), f"transfer {transfer.id}")
        return {"transfer_id": transfer.id}

    async def _follow_transfer(self, active: ActiveTransfer) -> None:
        transfer = active.transfer
        try:
            await transfer.connected
        except (DialFailed, CallEnded):
            pass
        else:
            async with self.lock:
                self.emit(events.TRANSFER_CONNECTED, transfer_id=transfer.id, kind=active.kind)
                await self.engine.update_transfer(active, status="connected")
                if active.kind == "cold" and self.state is State.TRANSFER:
                    # The caller's part is done: the lead talks to the party without them.
                    self._owe_results("cold_transfer")
        how = await transfer.ended
        async with self.lock:
            status = {TransferEnd.COMPLETED: "completed", TransferEnd.UNANSWERED: "unanswered",
                      TransferEnd.CANCELLED: "cancelled"}[how]
            self.emit(events.TRANSFER_ENDED, transfer_id=transfer.id, kind=active.kind, status=status)
            await self.engine.update_transfer(active, status=status)
            if self.transfer is active:
                self.transfer = None
            if self.state is State.TRANSFER:
                lead = self.call.leg if self.call is not None else None
                if lead is not None and not lead.ended.done():
                    self.set_state(State.ON_CALL, f"transfer_{status}")
                # else the lead's end moves the session to wrap-up

    async def _cmd_kick(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload, "party")
        party = payload.get("party")
        if party not in ("caller", "transfer"):
            raise CallFlowError("invalid-payload", 'party must be "caller" or "transfer"')
        active = self.transfer
        if active is None:
            raise CallFlowError("no-transfer", "there is no transfer")
        transfer = active.transfer
        if party == "transfer":
            await transfer.release_party()
            return {}
        if not transfer.caller_joined:
            raise CallFlowError("transfer-not-connected", "the transfer party has not answered yet")
        await transfer.leave()
        self._owe_results("left_transfer")
        return {}

    async def _cmd_drop_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload)
        call = self.call
        if not self.campaign.can_drop_voicemail or self.campaign.voicemail_media is None:
            raise CallFlowError("voicemail-not-allowed", "this campaign does not let callers leave its message")
        if call is None or call.leg is None or self.conference is None:
            raise CallFlowError("not-on-call", "there is no call")
        try:
            await self.conference.remove(call.leg)
            await call.leg.drop_voicemail(self.campaign.voicemail_media)
        except (TelephonyError, AriError) as exc:
            raise CallFlowError("call-ended", f"the message could not be played: {exc}") from None
        self.call = self.household = None
        self.emit(events.CALL_ENDED, call_id=call.call_id, status="voicemail_left", by="caller")
        await self.next_lead("voicemail_left")
        return {"call_id": call.call_id}

    async def _cmd_submit(self, payload: dict[str, Any]) -> dict[str, Any]:
        submission = parse_submission(payload)
        if submission.key in self.submitted:
            return self.submitted[submission.key]
        pending = self.pending
        if pending is None or pending.call_id != submission.call_id:
            # A repeat of a submit this engine no longer remembers (it ended the session, or restarted).
            stored = await self.engine.stored_submission(self, submission)
            if stored is not None:
                return stored
            raise CallFlowError("no-such-call", f"no call {submission.call_id} is waiting for results")
        retry = await self.engine.store_results(self, pending, submission)
        self.pending = None
        ack: dict[str, Any] = {"call_id": pending.call_id, "lead_id": submission.lead_id, "retry": retry}
        self.emit(events.RESULTS_SAVED, call_id=pending.call_id, lead_id=submission.lead_id, retry=retry)
        self.submitted[submission.key] = dict(ack)
        if self.ended:
            pass  # the results of the call its phone dropped: nothing comes next
        elif submission.then == "stop":
            await self.end("stopped")
        else:
            await self.next_lead("results_saved")
        return ack

    async def _cmd_stop(self, payload: dict[str, Any]) -> dict[str, Any]:
        _only(payload)
        if self.ended:
            return {}
        await self.end("stopped")
        return {}

    # -- the flow ------------------------------------------------------------------------------
    async def next_lead(self, reason: str) -> None:
        """After joining, a skip, an unanswered line or saved results: what comes next."""
        if self.end_after_call is not None:
            await self.end(self.end_after_call)
            return
        if self.next_campaign is not None:
            await self._switch_campaign()
        if self.campaign.mode is DialerMode.PREDICTIVE:
            self.set_state(State.ON_HOLD, reason)
            self.dialer.caller_free(self.id)
            return
        await self._present(reason)

    async def _present(self, reason: str) -> None:
        household = await self.dialer.preview(self.id)
        if household is None:
            closed = await self.engine.calling_hours_closed(self.campaign)
            if closed is None and self.engine.jobs.numbers_coming(self.campaign.id):
                # A call job's next numbers are being fetched: the caller waits for them on hold.
                if self.state is not State.ON_HOLD:
                    self.set_state(State.ON_HOLD, "waiting_for_numbers")
                return
            await self.end("calling_hours" if closed is not None else "out_of_leads")
            return
        self.household = household
        self.emit(events.LEAD_PRESENTED, household=household_json(household))
        if self.state is not State.PREVIEWING:
            self.set_state(State.PREVIEWING, reason)
        if self.keypad is not None:
            self.keypad.presented(household)
        if self.campaign.mode is DialerMode.POWER:
            await self._dial()

    async def _dial(self) -> None:
        household = self.household
        self.set_state(State.DIALING, "dialing")
        try:
            call = await self.dialer.dial_preview(self.id)
        except DialRefused as refused:
            logger.info("session %s: %s not dialled (%s)", self.id, household.phone if household else "?",
                        refused.error_id)
            self.household = None
            await self.next_lead(refused.error_id.replace("-", "_"))
            return
        except DialerError as exc:
            self.household = None
            if exc.error_id == "nothing-to-dial":
                raise CallFlowError("nothing-to-dial", "no household is presented") from None
            # On record as failed; say so and move on.
            self.emit(events.CALL_ENDED, call_id="", status="failed", by="system")
            await self.next_lead("dial_failed")
            return
        self.call = call
        self.emit(events.CALL_DIALING, call_id=call.call_id, household=household_json(call.household))
        leg = call.leg
        if leg is not None:
            leg.ringing.add_done_callback(lambda f: None if f.exception() else self._ringing(call))

    def _ringing(self, call: LiveCall) -> None:
        if self.call is call and self.state is State.DIALING:
            self.emit(events.CALL_RINGING, call_id=call.call_id)

    async def connect(self, call: LiveCall) -> bool:
        """The dialer's offer of an answered lead; False when this caller cannot take it."""
        async with self.lock:
            if self.conference is None or not self.phone_up or call.leg is None:
                return False
            if self.campaign.mode is DialerMode.PREDICTIVE:
                if self.state is not State.ON_HOLD or self.campaign.id != call.household.campaign_id:
                    return False
            elif self.state is not State.DIALING or self.call is not call:
                return False
            self.call = call
            self.household = call.household
            # The page has the household as the lead is bridged, not after a store round trip.
            self.emit(events.CALL_CONNECTED, call_id=call.call_id, household=household_json(call.household))
            self.set_state(State.ON_CALL, "answered")
            try:
                await call.leg.connect_to(self.conference)
            except ConferenceClosed:
                self.call = self.household = None
                return False
            except (CallEnded, TelephonyError, AriError) as exc:
                # The lead hung up as it was bridged: a call of no length, ended below.
                logger.info("session %s: lead %s not bridged: %s", self.id, call.call_id, exc)
            else:
                self.engine.recorder.record(self.account_id, self.conference.bridge_id, call)
            call.leg.ended.add_done_callback(
                lambda done: self.locked(lambda: self._lead_gone(call, done.result()), "lead hung up"))
            if self.keypad is not None:
                self.keypad.connected()
            return True

    async def _lead_gone(self, call: LiveCall, end: LegEnd) -> None:
        if self.call is not call:
            return  # a voicemail drop already moved on
        by = "caller" if self._hangup_requested == call.call_id or end.by is EndedBy.US else "lead"
        self.emit(events.CALL_ENDED, call_id=call.call_id, status="completed", by=by)
        if self.state in (State.ON_CALL, State.TRANSFER):
            self._owe_results(f"{by}_hung_up")
        else:
            self.call = None

    def _owe_results(self, reason: str) -> None:
        """The caller's part of the call is over: wrap-up until the results come."""
        call = self.call
        if call is None:
            return
        self.pending = Pending(call.call_id, call.attempt_id, household_json(call.household),
                               tuple(lead.id for lead in call.household.leads), self.campaign, self.dialer)
        self.call = self.household = None
        if not self.ended:
            self.set_state(State.WRAP_UP, reason)
            if self.keypad is not None:
                self.keypad.wrap_up(self.pending)

    async def call_finished(self, call: LiveCall) -> None:
        """The dialer's word on a line of this caller's that never reached them (busy, no
        answer, machine, a preview line abandoned...)."""
        async with self.lock:
            if self.call is not call or call.outcome is CallStatus.COMPLETED:
                return
            status = STATUS.get(call.outcome, "failed")
            by = "system"
            if self._hangup_requested == call.call_id:
                status, by = "cancelled", "caller"
            self.emit(events.CALL_ENDED, call_id=call.call_id, status=status, by=by)
            self.call = self.household = None
            if self.state is State.DIALING:
                await self.next_lead(status)

    async def _phone_gone(self) -> None:
        """The caller's own phone hung up: no lead is left talking to nobody."""
        if self.ended:
            return
        call = self.call
        transfer = self.transfer.transfer if self.transfer is not None else None
        if self.state is State.TRANSFER and transfer is not None and transfer.connected.done() \
                and not transfer.connected.exception():
            self._owe_results("phone_hung_up")  # the lead talks on with the transfer party
        elif call is not None and call.leg is not None:
            if self.state is State.ON_CALL:
                self._owe_results("phone_hung_up")
            self._hangup_requested = call.call_id
            await call.leg.hangup()
        await self.end("phone_hung_up")

    # -- campaign changes ----------------------------------------------------------------------
    def reassign(self, campaign: CampaignView) -> None:
        """Move to another campaign after the current call (at once when idle)."""
        self.next_campaign = campaign

    async def _switch_campaign(self) -> None:
        campaign, self.next_campaign = self.next_campaign, None
        assert campaign is not None
        await self.dialer.caller_gone(self.id)
        self.engine.moved(self, campaign)
        self.campaign = campaign
        self.emit(events.CAMPAIGN_CHANGED, campaign=campaign.json(), script=campaign.script)

    def script_changed(self, campaign: CampaignView) -> None:
        self.campaign = campaign
        self.emit(events.SCRIPT_CHANGED, script=campaign.script)

    async def calling_window(self, open_: bool, closes_at: dt.datetime | None,
                             opens_at: dt.datetime | None) -> None:
        async with self.lock:
            self.emit(events.CALLING_HOURS, open=open_, closes_at=_iso(closes_at), opens_at=_iso(opens_at))
            if open_ or self.ended:
                return
            await self.end_when_idle("calling_hours")

    async def end_when_idle(self, reason: str) -> None:
        """End now if nothing is under way, else after the call and its results."""
        if self.state in (State.DIALING, State.ON_CALL, State.TRANSFER, State.WRAP_UP):
            self.end_after_call = reason
        else:
            await self.end(reason)

    # -- ending --------------------------------------------------------------------------------
    async def end(self, reason: str) -> None:
        """End the session (the lock is held): release what it holds, hang up its phone."""
        if self.ended:
            return
        await self.cancel_tasks()
        self.end_reason = reason
        call = self.call
        if call is not None and call.leg is not None and not call.leg.ended.done():
            self._hangup_requested = call.call_id
            await call.leg.hangup()
        if call is not None and call.leg is not None:
            # A conversation cut short (sign-out, kick): the dialer puts it on record as the
            # leg's end arrives; only then can caller_gone give its household back for a retry.
            try:
                await asyncio.wait_for(call.done.wait(), 10.0)
            except asyncio.TimeoutError:
                logger.warning("session %s: call %s not on record before the session ended", self.id, call.call_id)
        self.household = None
        try:
            await self.dialer.caller_gone(self.id, keep_calls=self.pending is not None)
        except Exception:
            logger.exception("session %s: returning its households failed", self.id)
        if self.conference is not None:
            try:
                await self.conference.close()
            except (TelephonyError, AriError) as exc:
                logger.warning("session %s: conference not closed cleanly: %s", self.id, exc)
        if self.keypad is not None:
            self.keypad.stop()
        self.set_state(State.ENDED, reason)
        self.emit(events.SESSION_ENDED, reason=reason)
        self.engine.session_ended(self)

    def touch(self) -> None:
        self.last_seen = self.engine.clock()

    def hung_up_by_caller(self, call_id: str) -> bool:
        """Whether this caller (or their session's end) hung up the call."""
        return self._hangup_requested == call_id

    def idle_for(self, now: float) -> float:
        return now - self.last_seen


def _only(payload: dict[str, Any], *names: str) -> None:
    unknown = set(payload) - set(names)
    if unknown:
        raise CallFlowError("invalid-payload", f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise CallFlowError("invalid-payload", f"{name} must be a positive integer")
    return value


def _iso(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if at is not None else None


def monotonic() -> float:
    return time.monotonic()
