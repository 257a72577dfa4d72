"""The ``/monitor`` Socket.IO namespace: the supervisors' and admins' live floor.

Same conventions as ``/caller``: the handshake is authorised by the sign-in cookie (an
admin's or a supervisor's) and the page's ``Origin``; every event carries ``seq`` and
``at``; ``resync {last_seq}`` sends what the console missed, or a new ``floor`` when that
is no longer kept; every command is acknowledged ``{ok, ...}`` or ``{ok: false, error:
{id, message}}``. The floor comes from the engines through :class:`FloorBoard`; the
commands act through :class:`SupervisorActions`, which writes the audit log.

On connecting (``auth: {stream, last_seq}`` to resume) the console gets ``floor``: every
active campaign and live caller session of its account, with its own id and whether it
has a phone. Then the changes, coalesced (see :mod:`.floor`).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import select

from realtime.bus import Bus, Message, Subscription
from realtime.callflow import protocol
from realtime.callflow.actions import Actor, SupervisorActions
from realtime.callflow.event_log import now_iso
from realtime.sessions import REVOKED_TOPIC
from realtime.store.database import Store
from realtime.store.models import Account, User, UserRole
from realtime.store.scoping import get_owned

from .commands import RateLimit, resync_seq
from .floor import FloorBoard, FloorEvent
from .handshake import HandshakeRefused, refuse, signed_in
from .namespace import LiveNamespace, LiveSocket

logger = logging.getLogger(__name__)

NAMESPACE = "/monitor"
COMMANDS = frozenset({"monitor", "stop_monitoring", "kick", "reassign", "set_recording", "dial_in"})
ROLES = (UserRole.ADMIN.value, UserRole.SUPERVISOR.value)
MAX_PAYLOAD_BYTES = 16 * 1024
RATE = 5.0  # commands per second per socket, sustained
BURST = 20

# Every event the namespace sends (besides seq and at), for docs/events.md and its test.
EVENTS: dict[str, tuple[str, ...]] = {
    "floor": ("stream", "campaigns", "sessions", "recording", "supervisor", "dial_in_number"),
    "session_updated": ("session",),
    "session_ended": ("session_id", "reason"),
    "campaign_updated": ("campaign",),
    "campaign_removed": ("campaign_id",),
    "monitoring_changed": ("session_id", "supervisor", "mode", "reason"),
    "phone_changed": ("supervisor", "connected"),
    "recording_changed": ("enabled",),
}


@dataclasses.dataclass(eq=False)
class _Socket(LiveSocket):
    user_id: int = 0
    role: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.account_id, self.user_id, self.role)


class MonitorNamespace(LiveNamespace[_Socket]):
    commands = COMMANDS
    max_payload_bytes = MAX_PAYLOAD_BYTES
    not_attached = "This connection is not signed in."

    def __init__(self, *, store: Store, bus: Bus, board: FloorBoard, actions: SupervisorActions, signer,
                 dial_in_number: str = "") -> None:
        super().__init__(NAMESPACE)
        self.store = store
        self.bus = bus
        self.board = board
        self.actions = actions
        self.signer = signer
        self.dial_in_number = dial_in_number
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        self.board.push = self._push
        self.board.watched = lambda account_id: bool(self._groups.get(account_id))
        self._subscriptions = [await self.bus.subscribe(REVOKED_TOPIC, self._on_revoked)]

    async def close(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        await self._cancel_tasks()

    def group_of(self, socket: _Socket) -> int:
        return socket.account_id

    # -- connecting ------------------------------------------------------------------------------
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        try:
            identity = await signed_in(environ, self.store, self.signer)
            if identity.kind != "user" or identity.role not in ROLES:
                raise HandshakeRefused("not-a-supervisor", "Only supervisors and admins can watch the floor.")
        except HandshakeRefused as refused:
            refuse(refused)
        socket = _Socket(sid, identity.account_id, identity.nonce, RateLimit(RATE, BURST),
                         user_id=identity.id, role=identity.role)
        auth = auth if isinstance(auth, dict) else {}
        self._hold(socket, lambda: self._catch_up(socket, auth.get("stream"), auth.get("last_seq")))
        logger.info("%s %s watches the floor of account %s", identity.role, identity.id, identity.account_id)
        return True

    # -- commands --------------------------------------------------------------------------------
    async def _resync(self, socket: _Socket, payload: dict[str, Any]) -> dict[str, Any]:
        last_seq = resync_seq(payload, "stream")
        if last_seq is None:
            return protocol.error("invalid-payload", "resync takes {last_seq: integer >= 0, stream?}.")
        return await self._catch_up(socket, payload.get("stream", self.board.floor(socket.account_id).stream),
                                    last_seq)

    async def _act(self, socket: _Socket, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self.actions, event)
        return await handler(socket.actor, payload)

    # -- events out ------------------------------------------------------------------------------
    async def _push(self, account_id: int, events: list[FloorEvent]) -> None:
        """One push of the account's changes to every console watching it, in order; a
        console catching up keeps them for after its replay."""
        live = []
        for socket in self._groups.get(account_id, ()):
            if socket.syncing:
                socket.buffer.extend(events)
            else:
                live.append(socket)
        if not live or not events:
            return
        for socket in live:
            socket.last_sent = events[-1]["data"]["seq"]
        # A push is many events for many consoles: each is encoded once, and queued on each
        # console's connection in order, without a task per event and console (what emit()
        # costs; at 50 consoles and 2,000 callers that cost is most of the work).
        packets = [self.packet(event["event"], event["data"]) for event in events]
        for socket in live:
            await self.send(socket, packets)

    async def _catch_up(self, socket: _Socket, stream: Any, last_seq: Any) -> dict[str, Any]:
        """Send what the console missed, or a new ``floor``, then what waited meanwhile."""
        socket.syncing = True
        try:
            missed = self.board.since(socket.account_id, stream, last_seq)
            packets = []
            if missed is None:
                floor = await self._floor(socket)
                socket.last_sent = floor["seq"]
                packets.append(self.packet("floor", floor))
            else:
                socket.last_sent = last_seq
            await self._replay(socket, packets, missed or ())
        finally:
            socket.syncing = False
        return protocol.ok(replayed=len(missed or ()), floor=missed is None, last_seq=socket.last_sent,
                           stream=self.board.floor(socket.account_id).stream)

    async def _floor(self, socket: _Socket) -> dict[str, Any]:
        board = self.board.floor(socket.account_id)
        seq = board.seq  # read before any await: the snapshot stands for this point of the stream
        snapshot = board.snapshot()
        async with self.store.sessions() as db:
            user = await get_owned(db, User, socket.user_id, socket.account_id)
            recording = await db.scalar(select(Account.record_calls).where(Account.id == socket.account_id))
        monitoring = self.actions.monitoring(socket.account_id, socket.user_id)
        supervisor = {"id": socket.user_id, "name": (user.name or user.email) if user else "", "role": socket.role,
                      "phone_endpoint": bool(user and user.phone_endpoint), "monitoring": monitoring}
        return {**snapshot, "recording": bool(recording), "supervisor": supervisor,
                "dial_in_number": self.dial_in_number or None, "seq": seq, "at": now_iso()}

    # -- sign-ins ending -------------------------------------------------------------------------
    async def _on_revoked(self, topic: str, message: Message) -> None:
        """Signed out, deactivated, a new password or role: the consoles close; a person
        whose every sign-in ended (not a plain sign-out) also stops listening in."""
        if message.get("kind") != "user":
            return
        nonce, user_id, account_id = message.get("nonce"), message.get("person_id"), message.get("account_id")
        closing = [s for s in self._sockets.values() if s.user_id == user_id and s.account_id == account_id
                   and nonce in (None, s.nonce)]
        if nonce is None and closing and self.actions.monitoring(account_id, user_id) is not None:
            await self.actions.stop_monitoring(Actor(account_id, user_id, closing[0].role), {})
        for socket in closing:
            await self.disconnect(socket.sid)
