"""What supervisors and admins do to the live floor, from the web side: check, ask the
engine, write the audit log, answer.

The ``/monitor`` namespace and the REST API both act through :class:`SupervisorActions`,
so a kick is the same kick from the console and from ``DELETE /v1/caller_sessions/{id}``.
Every action, refusals included, leaves one row in ``supervisor_actions``: who (a user,
or the account's API key), what, which caller session, when, and the outcome
(``details.outcome``: ``ok``, ``refused`` with the error, or ``unknown`` when no engine
answered in time). The row is written in the same transaction as the action's effect in
the store: the caller's sign-ins ended by a kick, the caller's campaign after a
reassignment, the account's recording switch. What happens in Asterisk (a supervisor's
phone joining a conference) is done by the engine before it answers, and the row follows
its answer.

Every method answers like a socket command: ``{ok: true, ...}`` or ``{ok: false, error:
{id, message}}``; bad input changes nothing and is on record as refused.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.bus import Bus, BusError
from realtime.sessions import publish_revocation
from realtime.store import sign_ins
from realtime.store.database import Store
from realtime.store.models import Account, Caller, CallerSession, CallerSessionStatus, SupervisorAction, User, UserRole
from realtime.store.scoping import get_owned
from realtime.store.sign_ins import Revocation
from realtime.store.types import utcnow

from . import protocol
from .client import CallFlowClient
from .supervision import MODES, PIN_DIGITS, PIN_SECONDS, RING_SECONDS, SUPERVISOR_PINS

logger = logging.getLogger(__name__)

ACCOUNT_CHANGED = "monitor:account"  # {account_id, recording: bool}: for every web process's consoles
MONITOR_TIMEOUT = RING_SECONDS + 10.0  # the engine answers once the supervisor's phone is up
MAX_ID = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in admin or supervisor, or (``user_id`` None) the account's API key."""

    account_id: int
    user_id: int | None
    role: str  # admin | supervisor | api

    @property
    def is_admin(self) -> bool:
        return self.role in (UserRole.ADMIN.value, "api")

    def audit(self) -> dict[str, Any]:
        return {"actor": "api_key"} if self.user_id is None else {}


@dataclasses.dataclass(frozen=True)
class _Target:
    session_id: int
    caller_id: int
    campaign_id: int
    status: CallerSessionStatus


class Refused(Exception):
    def __init__(self, error_id: str, message: str, *, target: _Target | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.target = target


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Refused("invalid-payload", f"{name} must be a positive integer")
    return value


def _only(payload: dict[str, Any], *names: str) -> None:
    unknown = set(payload) - set(names)
    if unknown:
        # ascii(): a name with a NUL or a lone surrogate is said, and stored, escaped.
        raise Refused("invalid-payload", f"unknown field(s): {', '.join(sorted(map(ascii, unknown)))[:200]}")


class SupervisorActions:
    def __init__(self, store: Store, bus: Bus, client: CallFlowClient | None, *, dial_in_number: str = "",
                 monitoring: Callable[[int, int], int | None] | None = None) -> None:
        self.store = store
        self.bus = bus
        self.client = client
        self.dial_in_number = dial_in_number
        # Which session a supervisor monitors, as the floor last said (see channels.floor).
        self._floor_monitoring = monitoring or (lambda account_id, user_id: None)
        # ...and as this process's own acks say since, which is fresher.
        self._monitoring: dict[int, int | None] = {}

    def monitoring(self, account_id: int, user_id: int) -> int | None:
        if user_id in self._monitoring:
            return self._monitoring[user_id]
        return self._floor_monitoring(account_id, user_id)

    def floor_changed(self, user_id: int) -> None:
        """The floor has news of this supervisor: it is fresher than the acks seen here."""
        self._monitoring.pop(user_id, None)

    # -- the actions ----------------------------------------------------------------------------
    async def monitor(self, actor: Actor, payload: dict[str, Any]) -> dict[str, Any]:
        """Connect the supervisor's phone to a caller (``listen``, ``coach``, ``barge``), or
        switch it to another mode or caller without dropping it."""
        details: dict[str, Any] = {}
        target = None
        try:
            _only(payload, "session_id", "mode")
            session_id = _id(payload.get("session_id"), "session_id")
            details["session_id"] = session_id
            mode = payload.get("mode")
            if mode not in MODES:
                raise Refused("invalid-payload", 'mode must be "listen", "coach" or "barge"')
            details["mode"] = mode
            if actor.user_id is None:
                raise Refused("not-a-supervisor", "only a signed-in supervisor or admin can listen in")
            target = await self._target(actor, session_id)
            supervisor = await self._supervisor(actor)
            previous = self.monitoring(actor.account_id, actor.user_id)
            reply = await self._ask("monitor", actor, target, {"mode": mode}, supervisor=supervisor,
                                    timeout=MONITOR_TIMEOUT)
        except Refused as refused:
            return await self._refused(actor, "monitor", refused, details, target)
        if not reply.get("ok"):
            return await self._refused(actor, "monitor", _from_reply(reply, target), details, target)
        self._monitoring[actor.user_id] = target.session_id
        if previous is not None and previous != target.session_id:
            await self._release(actor, previous, supervisor)
        await self._audit(actor, "monitor", target, {**details, "outcome": "ok"})
        return protocol.ok(session_id=target.session_id, mode=mode)

    async def _release(self, actor: Actor, session_id: int, supervisor: dict[str, Any]) -> None:
        """After a switch to a caller on another engine: the old engine lets go of the
        supervisor's old phone (on the same engine the phone moved, and this finds
        nothing to do)."""
        async with self.store.sessions() as db:
            row = await get_owned(db, CallerSession, session_id, actor.account_id)
        if row is None or self.client is None:
            return
        reply = await self.client.request("stop_monitoring", account_id=actor.account_id, session_id=session_id,
                                          payload={}, supervisor=supervisor)
        if not reply.get("ok") and (reply.get("error") or {}).get("id") != "not-monitoring":
            logger.warning("supervisor %s: old phone on session %s not released: %s", actor.user_id, session_id,
                           reply.get("error"))

    async def stop_monitoring(self, actor: Actor, payload: dict[str, Any]) -> dict[str, Any]:
        details: dict[str, Any] = {}
        target = None
        try:
            _only(payload)
            if actor.user_id is None:
                raise Refused("not-monitoring", "the API key monitors nobody")
            session_id = self.monitoring(actor.account_id, actor.user_id)
            if session_id is None:
                raise Refused("not-monitoring", "you are not monitoring anyone")
            target = await self._target(actor, session_id)
            # A supervisor just deactivated still has their phone released.
            supervisor = await self._supervisor(actor, active=False)
            reply = await self._ask("stop_monitoring", actor, target, {}, supervisor=supervisor)
        except Refused as refused:
            return await self._refused(actor, "stop_monitoring", refused, details, target)
        if not reply.get("ok"):
            if (reply.get("error") or {}).get("id") in ("not-monitoring", "no-such-session"):
                self._monitoring[actor.user_id] = None
            return await self._refused(actor, "stop_monitoring", _from_reply(reply, target), details, target)
        self._monitoring[actor.user_id] = None
        await self._audit(actor, "stop_monitoring", target, {"outcome": "ok"})
        return protocol.ok(session_id=target.session_id)

    async def kick(self, actor: Actor, payload: dict[str, Any], *, db: AsyncSession | None = None,
                   committed: Callable[[Callable[[], Any]], None] | None = None) -> dict[str, Any]:
        """End a caller's session: a conversation is ended cleanly (and on record), the
        caller's phone is hung up, their page hears ``session_ended {reason: "kicked"}``
        and their sign-ins end, so the page closes.

        ``db`` (with ``committed``, to run once it has committed): write the effect into
        that transaction instead of one of its own (the REST API's request)."""
        details: dict[str, Any] = {}
        target = None
        try:
            _only(payload, "session_id")
            session_id = _id(payload.get("session_id"), "session_id")
            details["session_id"] = session_id
            target = await self._target(actor, session_id)
            if target.status is CallerSessionStatus.ENDED:
                raise Refused("session-ended", "the session has ended already", target=target)
            reply = await self._ask("end", actor, target, {"reason": "kicked"})
        except Refused as refused:
            return await self._refused(actor, "kick", refused, details, target)
        if not reply.get("ok"):
            return await self._refused(actor, "kick", _from_reply(reply, target), details, target)

        async def effect(session: AsyncSession) -> Revocation:
            await self._audit_in(session, actor, "kick", target, {**details, "outcome": "ok"})
            return await sign_ins.end(session, "caller", target.caller_id, actor.account_id)

        if db is None:
            async with self.store.transaction() as session:
                revocation = await effect(session)
            await publish_revocation(self.bus, revocation)
        else:
            revocation = await effect(db)
            assert committed is not None
            committed(lambda: publish_revocation(self.bus, revocation))
        return protocol.ok(session_id=target.session_id)

    async def reassign(self, actor: Actor, payload: dict[str, Any]) -> dict[str, Any]:
        """Move the caller to another active campaign of the account after the call under
        way (at once when they are between calls); the caller keeps it for later sessions."""
        details: dict[str, Any] = {}
        target = None
        try:
            _only(payload, "session_id", "campaign_id")
            session_id = _id(payload.get("session_id"), "session_id")
            campaign_id = _id(payload.get("campaign_id"), "campaign_id")
            details.update(session_id=session_id, campaign_id=campaign_id)
            target = await self._target(actor, session_id)
            if target.status is CallerSessionStatus.ENDED:
                raise Refused("session-ended", "the session has ended", target=target)
            reply = await self._ask("reassign", actor, target, {"campaign_id": campaign_id})
        except Refused as refused:
            return await self._refused(actor, "reassign", refused, details, target)
        if not reply.get("ok"):
            return await self._refused(actor, "reassign", _from_reply(reply, target), details, target)
        details["from_campaign_id"] = target.campaign_id
        async with self.store.transaction() as session:
            await session.execute(update(Caller).where(Caller.id == target.caller_id,
                                                       Caller.account_id == actor.account_id)
                                  .values(campaign_id=campaign_id))
            await self._audit_in(session, actor, "reassign", target,
                                 {**details, "effective": reply.get("effective"), "outcome": "ok"})
        return protocol.ok(session_id=target.session_id, campaign_id=campaign_id, effective=reply.get("effective"))

    async def set_recording(self, actor: Actor, payload: dict[str, Any]) -> dict[str, Any]:
        """Admins only: the account's calls recorded, or not (the ``record_calls`` flag)."""
        details: dict[str, Any] = {}
        try:
            _only(payload, "enabled")
            enabled = payload.get("enabled")
            if not isinstance(enabled, bool):
                raise Refused("invalid-payload", "enabled must be true or false")
            details["enabled"] = enabled
            if not actor.is_admin:
                raise Refused("admins-only", "only an admin can switch call recording")
        except Refused as refused:
            return await self._refused(actor, "set_recording", refused, details, None)
        async with self.store.transaction() as session:
            await session.execute(update(Account).where(Account.id == actor.account_id).values(record_calls=enabled))
            await self._audit_in(session, actor, "set_recording", None, {**details, "outcome": "ok"})
        try:
            await self.bus.publish(ACCOUNT_CHANGED, {"account_id": actor.account_id, "recording": enabled})
        except BusError as exc:  # stored all the same: consoles read it when they connect
            logger.warning("recording switch of account %s not announced: %s", actor.account_id, exc)
        return protocol.ok(enabled=enabled)

    async def dial_in(self, actor: Actor, payload: dict[str, Any]) -> dict[str, Any]:
        """A PIN for the supervisor to phone in with (instead of being called): the call
        becomes their phone for ``monitor``."""
        try:
            _only(payload)
            if actor.user_id is None:
                raise Refused("not-a-supervisor", "only a signed-in supervisor or admin can dial in")
            if not self.dial_in_number:
                raise Refused("no-dial-in-number", "this server has no dial-in number")
            supervisor = await self._supervisor(actor)
            pin = await self._new_pin()
            expires_at = time.time() + PIN_SECONDS
            await self.bus.publish(SUPERVISOR_PINS, {"pin": pin, "expires_at": expires_at,
                                                     "supervisor": {**supervisor, "account_id": actor.account_id}})
        except Refused as refused:
            return await self._refused(actor, "dial_in", refused, {}, None)
        except BusError:
            return await self._refused(actor, "dial_in", Refused("engine-unavailable",
                                                                 "the engines cannot be told; try again"), {}, None)
        await self._audit(actor, "dial_in", None, {"outcome": "ok"})
        return protocol.ok(number=self.dial_in_number, pin=pin, expires_in=int(PIN_SECONDS))

    # -- helpers ----------------------------------------------------------------------------------
    async def _target(self, actor: Actor, session_id: int) -> _Target:
        async with self.store.sessions() as db:
            row = await get_owned(db, CallerSession, session_id, actor.account_id)
        if row is None:
            raise Refused("no-such-session", "There is no such caller session.")
        return _Target(row.id, row.caller_id, row.campaign_id, row.status)

    async def _supervisor(self, actor: Actor, *, active: bool = True) -> dict[str, Any]:
        async with self.store.sessions() as db:
            user = await get_owned(db, User, actor.user_id, actor.account_id) if actor.user_id else None
        if user is None or (active and not user.active):
            raise Refused("not-a-supervisor", "your account cannot supervise")
        return {"id": user.id, "name": user.name or user.email, "phone_endpoint": user.phone_endpoint}

    async def _new_pin(self) -> str:
        """Seven digits, like a session's PIN (the prompt takes either without '#'), and
        none that a live session has."""
        async with self.store.sessions() as db:
            while True:
                pin = f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
                taken = await db.scalar(select(exists().where(
                    CallerSession.pin == pin, CallerSession.status != CallerSessionStatus.ENDED)))
                if not taken:
                    return pin

    async def _ask(self, command: str, actor: Actor, target: _Target, payload: dict[str, Any],
                   **extra: Any) -> dict[str, Any]:
        if self.client is None:
            raise Refused("engine-unavailable", "no calling engine is reachable from here", target=target)
        return await self.client.request(command, account_id=actor.account_id, session_id=target.session_id,
                                         payload=payload, **extra)

    async def _refused(self, actor: Actor, action: str, refused: Refused, details: dict[str, Any],
                       target: _Target | None) -> dict[str, Any]:
        target = refused.target or target
        # No engine answering in time says nothing of whether the action happened.
        outcome = "unknown" if refused.error_id == "engine-unavailable" else "refused"
        await self._audit(actor, action, target, {
            **details, "outcome": outcome, "error": {"id": refused.error_id, "message": _storable(refused.message)}})
        return protocol.error(refused.error_id, refused.message)

    async def _audit(self, actor: Actor, action: str, target: _Target | None, details: dict[str, Any]) -> None:
        try:
            async with self.store.transaction() as session:
                await self._audit_in(session, actor, action, target, details)
        except Exception:
            logger.exception("audit of %s by %s not written: %s", action, actor, details)
            raise

    @staticmethod
    async def _audit_in(session: AsyncSession, actor: Actor, action: str, target: _Target | None,
                        details: dict[str, Any]) -> None:
        session.add(SupervisorAction(
            account_id=actor.account_id, user_id=actor.user_id, action=action,
            caller_id=target.caller_id if target is not None else None,
            caller_session_id=target.session_id if target is not None else None,
            details={**actor.audit(), **details}, at=utcnow()))
        await session.flush()


def _from_reply(reply: dict[str, Any], target: _Target | None) -> Refused:
    error = reply.get("error") or {}
    return Refused(str(error.get("id", "engine-error")), str(error.get("message", "refused")), target=target)


def _storable(text: str) -> str:
    """Text every database holds: no NUL, no lone surrogate (an engine's message may quote input)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:500]
