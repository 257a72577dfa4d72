"""The ``/caller`` Socket.IO namespace: a caller's page, on the web side.

The handshake is authorised by the sign-in cookie and the page's ``Origin``; the engine
then attaches the socket to the caller's live session (or opens one). Commands go to the
engine over the bus and come back as acks; the session's events come from the engine,
already numbered, and each socket gets them in order, without a gap or a duplicate:
after connecting (``auth: {last_seq}``) or on ``resync {last_seq}`` the socket is sent
what it missed from the event log - or a ``snapshot`` when that is no longer kept -
while live events wait in its buffer, then go out after it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout

from realtime.bus import Bus, Message, Subscription
from realtime.callflow import protocol
from realtime.callflow.client import CallFlowClient
from realtime.callflow.event_log import Event, EventLog, EventLogUnavailable, now_iso
from realtime.sessions import REVOKED_TOPIC
from realtime.store.database import Store

from .commands import RateLimit, resync_seq
from .handshake import HandshakeRefused, caller_identity, refuse
from .namespace import LiveNamespace, LiveSocket

logger = logging.getLogger(__name__)

NAMESPACE = "/caller"
COMMANDS = frozenset({"start", "dial", "skip", "hangup", "transfer", "kick", "drop_message", "submit", "stop"})
MAX_PAYLOAD_BYTES = 256 * 1024
RATE = 10.0  # commands per second per socket, sustained
BURST = 30


@dataclasses.dataclass(eq=False)
class _Socket(LiveSocket):
    session_id: int = 0
    caller_id: int = 0
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)  # session_ended sent


class CallerNamespace(LiveNamespace[_Socket]):
    commands = COMMANDS
    max_payload_bytes = MAX_PAYLOAD_BYTES
    not_attached = "This connection has no caller session."

    def __init__(self, *, store: Store, bus: Bus, client: CallFlowClient, event_log: EventLog, signer) -> None:
        super().__init__(NAMESPACE)
        self.store = store
        self.bus = bus
        self.client = client
        self.event_log = event_log
        self.signer = signer
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        self._subscriptions = [await self.bus.subscribe(protocol.EVENTS, self._on_event),
                               await self.bus.subscribe(REVOKED_TOPIC, self._on_revoked)]
        self._spawn(self._announce_presence())

    async def close(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        await self._cancel_tasks()

    def group_of(self, socket: _Socket) -> int:
        return socket.session_id

    # -- connecting ------------------------------------------------------------------------------
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        try:
            identity = await caller_identity(environ, self.store, self.signer)
            reply = await self.client.request("attach", account_id=identity.account_id, caller_id=identity.id)
            if not reply.get("ok"):
                error = reply.get("error") or {}
                raise HandshakeRefused(error.get("id", "engine-error"), error.get("message", "Refused."))
        except HandshakeRefused as refused:
            refuse(refused)
        except PoolTimeout:
            refuse(HandshakeRefused("server-busy", "The server is busy; try again in a moment."))
        except Exception:
            logger.exception("caller handshake failed")
            refuse(HandshakeRefused("server-error", "The server could not open your session; try again."))
        socket = _Socket(sid, identity.account_id, identity.nonce, RateLimit(RATE, BURST),
                         session_id=reply["session_id"], caller_id=identity.id)
        auth = auth if isinstance(auth, dict) else {}
        last_seq = auth.get("last_seq", 0)
        last_seq = last_seq if isinstance(last_seq, int) and not isinstance(last_seq, bool) and last_seq >= 0 else 0
        if auth.get("session_id", socket.session_id) != socket.session_id:
            last_seq = 0  # what the page has is of a session that ended: this one is new to it
        self._hold(socket, lambda: self._catch_up(socket, last_seq))
        logger.info("caller %s connected to session %s", identity.id, socket.session_id)
        return True

    # -- commands --------------------------------------------------------------------------------
    async def _resync(self, socket: _Socket, payload: dict[str, Any]) -> dict[str, Any]:
        last_seq = resync_seq(payload)
        if last_seq is None:
            return protocol.error("invalid-payload", "resync takes {last_seq: integer >= 0}.")
        return await self._catch_up(socket, last_seq)

    async def _act(self, socket: _Socket, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.client.request(event, account_id=socket.account_id, session_id=socket.session_id,
                                         caller_id=socket.caller_id, payload=payload)

    # -- events out ------------------------------------------------------------------------------
    async def _on_event(self, topic: str, message: Message) -> None:
        """A batch of events from the engines: each to its session's sockets held here."""
        outgoing: dict[_Socket, list[Any]] = {}
        for event in message["events"]:
            packet = None
            for socket in self._groups.get(event["data"]["session_id"], ()):
                if socket.syncing:
                    socket.buffer.append(event)
                elif event["data"]["seq"] > socket.last_sent:
                    packet = packet or self.packet(event["event"], event["data"])
                    outgoing.setdefault(socket, []).append(packet)
                    self._sent(socket, event)
        for socket, packets in outgoing.items():
            await self.send(socket, packets)

    def _sent(self, socket: _Socket, event: Event) -> None:
        super()._sent(socket, event)
        if event["event"] == "session_ended":
            socket.ended.set()

    async def _catch_up(self, socket: _Socket, last_seq: int) -> dict[str, Any]:
        """Send what the socket missed after ``last_seq``, then what waited meanwhile."""
        socket.syncing = True
        try:
            missed = await self.event_log.since(socket.session_id, last_seq)
        except EventLogUnavailable as exc:
            logger.warning("session %s cannot resync: %s", socket.session_id, exc)
            missed = None
        if missed is None:
            reply = await self.client.request("snapshot", account_id=socket.account_id,
                                              session_id=socket.session_id, caller_id=socket.caller_id)
            if not reply.get("ok"):
                socket.syncing = False
                return reply
            snapshot = reply["snapshot"]
            socket.last_sent = snapshot["last_seq"]
            packets = [self.packet("snapshot", {**snapshot, "seq": snapshot["last_seq"], "at": now_iso(),
                                                "session_id": socket.session_id})]
        else:
            socket.last_sent = last_seq
            packets = []
        await self._replay(socket, packets, missed or ())
        socket.syncing = False
        return protocol.ok(replayed=len(missed or ()), snapshot=missed is None, last_seq=socket.last_sent)

    # -- sessions ending elsewhere ----------------------------------------------------------------
    async def _on_revoked(self, topic: str, message: Message) -> None:
        """Signed out (or the password changed, or deactivated): the session ends, the
        sockets close."""
        if message.get("kind") != "caller":
            return
        nonce = message.get("nonce")
        ended: set[int] = set()
        for socket in [s for s in self._sockets.values()
                       if s.caller_id == message.get("person_id") and s.account_id == message.get("account_id")
                       and nonce in (None, s.nonce)]:
            if socket.session_id not in ended:
                ended.add(socket.session_id)
                await self.client.request("end", account_id=socket.account_id, session_id=socket.session_id,
                                          caller_id=socket.caller_id, payload={"reason": "signed_out"})
            self._spawn(self._close_after_the_end(socket))

    async def _close_after_the_end(self, socket: _Socket, wait: float = 2.0) -> None:
        """Let the page hear why its session ended, then close the socket."""
        try:
            await asyncio.wait_for(socket.ended.wait(), wait)
        except TimeoutError:
            pass
        await self.disconnect(socket.sid)

    async def _announce_presence(self) -> None:
        while True:
            try:
                await self.bus.publish(protocol.PRESENCE, {"web_id": self.client.web_id,
                                                           "sessions": list(self._groups)})
            except Exception as exc:
                logger.warning("presence not announced: %s", exc)
            await asyncio.sleep(protocol.PRESENCE_SECONDS)
