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
import json
import logging
import time
from typing import Any

import socketio
from sqlalchemy.exc import TimeoutError as PoolTimeout

from realtime.bus import Bus, Message, Subscription
from realtime.callflow import protocol
from realtime.callflow.client import CallFlowClient
from realtime.callflow.event_log import Event, EventLog, EventLogUnavailable, now_iso
from realtime.sessions import REVOKED_TOPIC
from realtime.store.database import Store

from .handshake import HandshakeRefused, caller_identity, refuse

logger = logging.getLogger(__name__)

NAMESPACE = "/caller"
COMMANDS = frozenset({"start", "dial", "skip", "hangup", "transfer", "kick", "drop_message", "submit", "stop"})
MAX_PAYLOAD_BYTES = 256 * 1024
RATE = 10.0  # commands per second per socket, sustained
BURST = 30


@dataclasses.dataclass(eq=False)
class _Socket:
    sid: str
    session_id: int
    account_id: int
    caller_id: int
    nonce: str  # of the sign-in that opened it: signing out closes its sockets
    last_sent: int = 0
    syncing: bool = True  # live events wait in ``buffer`` while missed ones are sent
    buffer: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)  # session_ended sent
    tokens: float = BURST
    refilled: float = dataclasses.field(default_factory=time.monotonic)

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.refilled) * RATE)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class CallerNamespace(socketio.AsyncNamespace):
    def __init__(self, *, store: Store, bus: Bus, client: CallFlowClient, event_log: EventLog, signer) -> None:
        super().__init__(NAMESPACE)
        self.store = store
        self.bus = bus
        self.client = client
        self.event_log = event_log
        self.signer = signer
        self._sockets: dict[str, _Socket] = {}
        self._by_session: dict[int, list[_Socket]] = {}
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._presence: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._subscriptions = [await self.bus.subscribe(protocol.EVENTS, self._on_event),
                               await self.bus.subscribe(REVOKED_TOPIC, self._on_revoked)]
        self._presence = asyncio.get_running_loop().create_task(self._announce_presence(), name="caller-presence")

    async def close(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        tasks = [*self._tasks, *([self._presence] if self._presence else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def connections(self) -> int:
        return len(self._sockets)

    # -- connecting ------------------------------------------------------------------------------
    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return await self._connect(*args)
        if event == "disconnect":
            self._forget(args[0])
            return None
        sid, data = args[0], args[1:]
        socket = self._sockets.get(sid)
        if socket is None:
            return protocol.error("not-attached", "This connection has no caller session.")
        # Handlers run one task per event; the lock keeps a socket's commands in their order.
        async with socket.lock:
            try:
                return await self._command(socket, event, data)
            except Exception:
                logger.exception("caller command %r failed", event)
                return protocol.error("server-error", "The command failed; nothing was changed.")

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
        socket = _Socket(sid, reply["session_id"], identity.account_id, identity.id, identity.nonce)
        self._sockets[sid] = socket
        self._by_session.setdefault(socket.session_id, []).append(socket)
        auth = auth if isinstance(auth, dict) else {}
        last_seq = auth.get("last_seq", 0)
        last_seq = last_seq if isinstance(last_seq, int) and not isinstance(last_seq, bool) and last_seq >= 0 else 0
        if auth.get("session_id", socket.session_id) != socket.session_id:
            last_seq = 0  # what the page has is of a session that ended: this one is new to it
        # Sent after the handshake completes: until then the client would drop them.
        self._spawn(self._catch_up_when_connected(socket, last_seq))
        logger.info("caller %s connected to session %s", identity.id, socket.session_id)
        return True

    async def _catch_up_when_connected(self, socket: _Socket, last_seq: int) -> None:
        for _ in range(100):
            if self.server.manager.is_connected(socket.sid, NAMESPACE):
                break
            await asyncio.sleep(0.01)
        async with socket.lock:
            await self._catch_up(socket, last_seq)

    def _forget(self, sid: str) -> None:
        socket = self._sockets.pop(sid, None)
        if socket is None:
            return
        peers = self._by_session.get(socket.session_id, [])
        if socket in peers:
            peers.remove(socket)
        if not peers:
            self._by_session.pop(socket.session_id, None)

    # -- commands --------------------------------------------------------------------------------
    async def _command(self, socket: _Socket, event: str, data: tuple[Any, ...]) -> dict[str, Any]:
        if not socket.allow():
            return protocol.error("rate-limited", "Too many commands; slow down.")
        if event != "resync" and event not in COMMANDS:
            return protocol.error("unknown-event", f"There is no command {str(event)[:50]!r}.")
        if len(data) > 1:
            return protocol.error("invalid-payload", "A command takes one object.")
        payload = data[0] if data else {}
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            return protocol.error("invalid-payload", "A command takes one object.")
        try:
            size = len(json.dumps(payload, separators=(",", ":")))
        except (TypeError, ValueError):
            return protocol.error("invalid-payload", "The payload is not JSON.")
        if size > MAX_PAYLOAD_BYTES:
            return protocol.error("payload-too-large", f"A command may carry at most {MAX_PAYLOAD_BYTES} bytes.")
        if event == "resync":
            last_seq = payload.get("last_seq")
            if isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0 or set(payload) - {
                    "last_seq"}:
                return protocol.error("invalid-payload", "resync takes {last_seq: integer >= 0}.")
            socket.syncing = True
            return await self._catch_up(socket, last_seq)
        return await self.client.request(event, account_id=socket.account_id, session_id=socket.session_id,
                                         caller_id=socket.caller_id, payload=payload)

    # -- events out ------------------------------------------------------------------------------
    async def _on_event(self, topic: str, message: Message) -> None:
        for event in message["events"]:
            sockets = self._by_session.get(event["data"]["session_id"])
            if not sockets:
                continue
            for socket in list(sockets):
                if socket.syncing:
                    socket.buffer.append(event)
                elif event["data"]["seq"] > socket.last_sent:
                    await self._send(socket, event)

    async def _send(self, socket: _Socket, event: Event | Message) -> None:
        socket.last_sent = event["data"]["seq"]
        await self.emit(event["event"], event["data"], to=socket.sid)
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
        replayed = 0
        if missed is None:
            reply = await self.client.request("snapshot", account_id=socket.account_id,
                                              session_id=socket.session_id, caller_id=socket.caller_id)
            if not reply.get("ok"):
                socket.syncing = False
                return reply
            snapshot = reply["snapshot"]
            socket.last_sent = snapshot["last_seq"]
            await self.emit("snapshot", {**snapshot, "seq": snapshot["last_seq"], "at": now_iso(),
                                         "session_id": socket.session_id}, to=socket.sid)
        else:
            socket.last_sent = last_seq
            for event in missed:
                await self._send(socket, event)
                replayed += 1
        while socket.buffer:
            event = socket.buffer.pop(0)
            if event["data"]["seq"] > socket.last_sent:
                await self._send(socket, event)
        socket.syncing = False
        return protocol.ok(replayed=replayed, snapshot=missed is None, last_seq=socket.last_sent)

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
                                                           "sessions": list(self._by_session)})
            except Exception as exc:
                logger.warning("presence not announced: %s", exc)
            await asyncio.sleep(protocol.PRESENCE_SECONDS)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
