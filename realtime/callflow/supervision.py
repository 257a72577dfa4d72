"""Supervisors on the engine: their phone legs, listen / coach / barge on a caller's
conference, and a caller kicked out of their session.

A supervisor acts on a caller of a campaign this engine runs (the command reaches the
engine that owns the session, see :mod:`.engine`). Their phone is the leg this engine
holds for them: rung at their ``phone_endpoint`` the first time, or the call they made
to the dial-in number with a supervisor PIN (issued by a web process and announced to
every engine on :data:`SUPERVISOR_PINS`). The leg is kept while they go from mode to
mode and from caller to caller on this engine; it follows the caller from lead to lead,
as the caller's conference lasts the whole session. When the session ends, or the
supervisor stops, the leg is hung up: nobody is left in a dead bridge.

A supervisor whose next caller runs on another engine gets a new call from that engine
(the web side then releases the old leg; see :mod:`.actions`): an engine can only bridge
the channels of its own application.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from realtime.bus import Message, Subscription
from realtime.telephony import (
    CallEnded,
    ChannelRole,
    ConferenceClosed,
    DialFailed,
    InvalidEndpoint,
    InvalidMode,
    Leg,
    Mode,
    Role,
    Supervision,
    TelephonyError,
)
from realtime.telephony.ari import AriError
from realtime.telephony.dial_in import DialInTarget

from .errors import CallFlowError
from .states import State

if TYPE_CHECKING:
    from .engine import CallFlowEngine
    from .session import LiveSession

logger = logging.getLogger(__name__)

SUPERVISOR_PINS = "supervision:pins"  # {pin, supervisor: {id, account_id, name}, expires_at (epoch s)}
PIN_SECONDS = 600.0  # a supervisor PIN works once, within this long
PIN_DIGITS = 7  # the length of a session's PIN: the dial-in prompt takes either without '#'
RING_SECONDS = 20  # the supervisor's phone rings this long before monitor gives up
COMMANDS = frozenset({"monitor", "stop_monitoring"})
MODES = tuple(mode.value for mode in Mode)
MAX_ENDPOINT = 200


@dataclasses.dataclass(frozen=True)
class SupervisorInfo:
    """Who is supervising, as the web side says in the command (from the signed-in user)."""

    id: int
    account_id: int
    name: str
    phone_endpoint: str | None = None

    @classmethod
    def from_message(cls, value: Any, account_id: Any) -> SupervisorInfo:
        if not isinstance(value, dict) or not isinstance(account_id, int):
            raise CallFlowError("invalid-payload", "the command names no supervisor")
        user_id, name, endpoint = value.get("id"), value.get("name", ""), value.get("phone_endpoint")
        if isinstance(user_id, bool) or not isinstance(user_id, int) or not isinstance(name, str) or not (
                endpoint is None or (isinstance(endpoint, str) and len(endpoint) <= MAX_ENDPOINT)):
            raise CallFlowError("invalid-payload", "the command's supervisor is malformed")
        return cls(user_id, account_id, name[:200], endpoint or None)

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclasses.dataclass(eq=False)
class Desk:
    """One supervisor's phone on this engine, and the caller it supervises (if any)."""

    supervisor: SupervisorInfo
    leg: Leg
    supervision: Supervision | None = None
    session: LiveSession | None = None
    released: bool = False

    @property
    def mode(self) -> str | None:
        if self.supervision is None or self.supervision.mode is None:
            return None
        return self.supervision.mode.value


class Supervisors:
    """The engine's supervisors: the command side of monitoring, and kicks."""

    def __init__(self, engine: CallFlowEngine) -> None:
        self.engine = engine
        self.desks: dict[int, Desk] = {}
        self.pins: dict[str, tuple[SupervisorInfo, float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._subscription: Subscription | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._subscription = await self.engine.bus.subscribe(SUPERVISOR_PINS, self._on_pin)

    async def close(self) -> None:
        """Stop listening; supervisors' phones stay up (the reaper of the next engine ends
        them: a supervisor leg belongs to no session it could take back)."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _lock(self, supervisor_id: int) -> asyncio.Lock:
        return self._locks.setdefault(supervisor_id, asyncio.Lock())

    def _spawn(self, coro: Any, what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("supervision: %s failed", what)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"supervision:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what the floor shows ----------------------------------------------------------------------
    def monitors(self) -> dict[int, list[dict[str, Any]]]:
        """Who monitors each watched session, and how (sessions nobody watches are absent)."""
        watched: dict[int, list[dict[str, Any]]] = {}
        for desk in self.desks.values():
            if desk.session is not None and desk.mode is not None:
                watched.setdefault(desk.session.id, []).append({"supervisor": desk.supervisor.json(), "mode": desk.mode})
        return watched

    # -- commands ---------------------------------------------------------------------------------
    async def command(self, session: LiveSession, command: str, payload: dict[str, Any],
                      message: Message) -> dict[str, Any]:
        supervisor = SupervisorInfo.from_message(message.get("supervisor"), message.get("account_id"))
        if command == "monitor":
            _only(payload, "mode")
            return await self.monitor(session, supervisor, payload.get("mode"))
        _only(payload)
        return await self.stop(session, supervisor)

    async def monitor(self, session: LiveSession, supervisor: SupervisorInfo, mode: Any) -> dict[str, Any]:
        """Connect the supervisor to the caller in ``mode``, switching their phone over if
        it is already up on this engine (from another mode, or another caller)."""
        if mode not in MODES:
            raise CallFlowError("invalid-payload", 'mode must be "listen", "coach" or "barge"')
        async with self._lock(supervisor.id):
            if session.ended:
                raise CallFlowError("session-ended", "the session has ended")
            conference = session.conference
            if conference is None or not session.phone_up or conference.closed.done():
                raise CallFlowError("caller-not-connected", "the caller's phone is not connected yet")
            desk = self.desks.get(supervisor.id)
            if desk is not None and desk.leg.ended.done():
                await self._release(desk, "phone_hung_up")
                desk = None
            try:
                if desk is not None and desk.session is session and desk.supervision is not None:
                    await desk.supervision.switch(mode)
                elif desk is not None:
                    left = desk.session
                    if desk.supervision is not None:
                        await desk.supervision.detach()
                        desk.supervision = None
                    desk.session = None
                    if left is not None:
                        self.engine.floor.monitoring_changed(left, supervisor.json(), None, "moved")
                    desk.supervision = await Supervision.attach(self.engine.telephony, conference, desk.leg, mode)
                    desk.session = session
                else:
                    if not supervisor.phone_endpoint:
                        raise CallFlowError("no-phone", "you have no phone to be called at: set your phone "
                                                        "endpoint, or dial in with a supervisor PIN first")
                    supervision = await Supervision.start(
                        self.engine.telephony, conference, supervisor.phone_endpoint, mode,
                        supervisor_id=str(supervisor.id), caller_id=self.engine.settings_caller_id(session.campaign),
                        ring_timeout=RING_SECONDS)
                    desk = self._seat(supervisor, supervision.leg)
                    desk.supervision, desk.session = supervision, session
                    self.engine.floor.phone_changed(supervisor, True)
            except DialFailed as exc:
                raise CallFlowError("phone-unanswered", f"your phone did not answer ({exc.reason})") from None
            except InvalidEndpoint as exc:
                raise CallFlowError("invalid-phone-endpoint", f"your phone endpoint is not usable: {exc.message}") \
                    from None
            except InvalidMode:
                raise CallFlowError("invalid-payload", 'mode must be "listen", "coach" or "barge"') from None
            except (ConferenceClosed, CallEnded):
                if session.ended or not session.phone_up:
                    raise CallFlowError("session-ended", "the caller's session ended meanwhile") from None
                raise CallFlowError("phone-hung-up", "your phone hung up") from None
            except (TelephonyError, AriError) as exc:
                logger.warning("supervisor %s on session %s: %s", supervisor.id, session.id, exc)
                raise CallFlowError("monitor-failed", f"the telephony refused: {exc}") from None
            self.engine.floor.monitoring_changed(session, supervisor.json(), mode, "monitor")
            logger.info("supervisor %s %s session %s", supervisor.id, mode, session.id)
            return {"session_id": session.id, "mode": mode}

    async def stop(self, session: LiveSession, supervisor: SupervisorInfo) -> dict[str, Any]:
        """Hang up the supervisor's phone if it supervises this session."""
        async with self._lock(supervisor.id):
            desk = self.desks.get(supervisor.id)
            if desk is None or desk.session is not session:
                raise CallFlowError("not-monitoring", "you are not monitoring this caller")
            await self._release(desk, "stopped")
            return {"session_id": session.id}

    def _seat(self, supervisor: SupervisorInfo, leg: Leg) -> Desk:
        desk = Desk(supervisor, leg)
        self.desks[supervisor.id] = desk
        leg.ended.add_done_callback(lambda _: self._spawn(self._release(desk, "phone_hung_up"),
                                                          f"supervisor {supervisor.id} hung up"))
        return desk

    async def _release(self, desk: Desk, reason: str) -> None:
        """The supervisor's phone is done: off the floor, hung up, forgotten. Once per desk."""
        if desk.released:
            return
        desk.released = True
        if self.desks.get(desk.supervisor.id) is desk:
            del self.desks[desk.supervisor.id]
        session, supervision = desk.session, desk.supervision
        desk.session = None
        if reason == "phone_hung_up" and session is not None and (
                session.ended or session.end_reason is not None or not session.phone_up):
            reason = "session_ended"  # hung up by the session's end (the caller's phone, or a barge's bridge)
        if session is not None:
            self.engine.floor.monitoring_changed(session, desk.supervisor.json(), None, reason)
        self.engine.floor.phone_changed(desk.supervisor, False)
        try:
            if supervision is not None:
                await supervision.stop()
            else:
                await desk.leg.hangup()
        except (TelephonyError, AriError) as exc:
            logger.warning("supervisor %s's phone not hung up: %s", desk.supervisor.id, exc)

    def session_ended(self, session: LiveSession) -> None:
        """The caller's session ended: its supervisors are told and their phones released."""
        for desk in [d for d in self.desks.values() if d.session is session]:
            self._spawn(self._release(desk, "session_ended"), f"supervisor {desk.supervisor.id} released")

    # -- kicking a caller out -------------------------------------------------------------------
    async def kick(self, session: LiveSession) -> dict[str, Any]:
        """End the session as a supervisor's decision. A conversation is ended first, so its
        end (and its outcome) is on record before the session's; the lead comes back to
        the queue, as no results will come for the call."""
        async with session.lock:
            if session.ended:
                raise CallFlowError("session-ended", "the session has ended already")
            call = session.call if session.state is State.ON_CALL else None
            if call is not None and call.leg is not None and not call.leg.ended.done():
                await call.leg.hangup()
            else:
                call = None
        if call is not None:
            try:
                # The call's outcome is stored when its leg's end is followed through.
                await asyncio.wait_for(call.done.wait(), 10.0)
            except TimeoutError:
                logger.warning("session %s: call %s not settled before the kick", session.id, call.call_id)
        async with session.lock:
            if not session.ended:
                session.pending = None  # the caller is gone: the call's household is dialled again
                await session.end("kicked")
        return {"session_id": session.id}

    # -- dial-in ----------------------------------------------------------------------------------
    async def _on_pin(self, topic: str, message: Message) -> None:
        pin, expires_at = message.get("pin"), message.get("expires_at")
        supervisor = message.get("supervisor")
        try:
            info = SupervisorInfo.from_message(supervisor, (supervisor or {}).get("account_id")
                                               if isinstance(supervisor, dict) else None)
        except CallFlowError:
            return
        if not isinstance(pin, str) or not re.fullmatch(rf"\d{{{PIN_DIGITS}}}", pin) or not isinstance(
                expires_at, (int, float)):
            return
        now = time.time()
        for old in [p for p, (_, until) in self.pins.items() if until < now or _.id == info.id]:
            del self.pins[old]  # one PIN per supervisor: the newest
        self.pins[pin] = (info, float(expires_at))

    def pin_taken(self, pin: str) -> bool:
        return pin in self.pins

    def resolve_pin(self, pin: str) -> DialInTarget | None:
        """A supervisor's PIN: their call becomes their phone on this engine (used once)."""
        entry = self.pins.get(pin)
        if entry is None:
            return None
        info, until = entry
        del self.pins[pin]
        if until < time.time():
            return None

        async def take(channel_id: str) -> None:
            await self._dialled_in(info, channel_id)

        return DialInTarget(session_id="", campaign_id="", take=take)

    async def _dialled_in(self, supervisor: SupervisorInfo, channel_id: str) -> None:
        leg = await Leg.adopt(self.engine.telephony, channel_id, ChannelRole(Role.SUPERVISOR, call_id=str(supervisor.id)))
        if leg.ended.done():
            return
        async with self._lock(supervisor.id):
            previous = self.desks.get(supervisor.id)
            if previous is not None:
                await self._release(previous, "replaced")  # one phone per supervisor: the newest
            self._seat(supervisor, leg)
        self.engine.floor.phone_changed(supervisor, True)
        logger.info("supervisor %s dialled in on %s", supervisor.id, channel_id)


def _only(payload: dict[str, Any], *names: str) -> None:
    unknown = set(payload) - set(names)
    if unknown:
        raise CallFlowError("invalid-payload", f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
