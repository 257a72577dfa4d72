"""What the live namespaces (``/caller``, ``/monitor``) share: their sockets, grouped by
what they watch (a caller's session, a console's account); one command at a time per
socket, checked before the namespace's own handler sees it; events queued straight on
each connection, in order; and the background tasks they start."""
from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from realtime.callflow import protocol

from .commands import RateLimit, command_payload, until_connected

logger = logging.getLogger(__name__)

Event = dict[str, Any]  # {"event": name, "data": {..., "seq": n, "at": ...}}


@dataclasses.dataclass(eq=False)
class LiveSocket:
    sid: str
    account_id: int
    nonce: str  # of the sign-in that opened it: signing out closes its sockets
    limit: RateLimit
    last_sent: int = 0
    syncing: bool = True  # live events wait in ``buffer`` while missed ones are sent
    buffer: list[Event] = dataclasses.field(default_factory=list)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


S = TypeVar("S", bound=LiveSocket)


class LiveNamespace(socketio.AsyncNamespace, Generic[S], abc.ABC):
    commands: frozenset[str]  # besides ``resync``
    max_payload_bytes: int
    not_attached: str  # the error message for a command on a socket the namespace does not hold

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self._sockets: dict[str, S] = {}
        self._groups: dict[Any, list[S]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def connections(self) -> int:
        return len(self._sockets)

    # -- what each namespace does ----------------------------------------------------------------
    @abc.abstractmethod
    def group_of(self, socket: S) -> Any:
        """The key the namespace's events are addressed by."""

    @abc.abstractmethod
    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool: ...

    @abc.abstractmethod
    async def _resync(self, socket: S, payload: dict[str, Any]) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def _act(self, socket: S, event: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    # -- sockets ---------------------------------------------------------------------------------
    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return await self._connect(*args)
        if event == "disconnect":
            self._forget(args[0])
            return None
        sid, data = args[0], args[1:]
        socket = self._sockets.get(sid)
        if socket is None:
            return protocol.error("not-attached", self.not_attached)
        # Handlers run one task per event; the lock keeps a socket's commands in their order.
        async with socket.lock:
            try:
                return await self._command(socket, event, data)
            except Exception:
                logger.exception("%s command %r failed", self.namespace, event)
                return protocol.error("server-error", "The command failed; nothing was changed.")

    def _hold(self, socket: S, after_handshake: Callable[[], Awaitable[Any]]) -> None:
        """Keep the socket; ``after_handshake`` runs (under its lock) once the client is
        connected: events sent from a connect handler would reach it too early and be dropped."""
        self._sockets[socket.sid] = socket
        self._groups.setdefault(self.group_of(socket), []).append(socket)

        async def when_connected() -> None:
            await until_connected(self.server, socket.sid, self.namespace)
            async with socket.lock:
                await after_handshake()

        self._spawn(when_connected())

    def _forget(self, sid: str) -> None:
        socket = self._sockets.pop(sid, None)
        if socket is None:
            return
        key = self.group_of(socket)
        peers = self._groups.get(key, [])
        if socket in peers:
            peers.remove(socket)
        if not peers:
            self._groups.pop(key, None)

    async def _command(self, socket: S, event: str, data: tuple[Any, ...]) -> dict[str, Any]:
        if not socket.limit.allow():
            return protocol.error("rate-limited", "Too many commands; slow down.")
        payload, refused = command_payload(event, data, self.commands | {"resync"}, self.max_payload_bytes)
        if payload is None:
            return refused
        if event == "resync":
            return await self._resync(socket, payload)
        return await self._act(socket, event, payload)

    # -- events out ------------------------------------------------------------------------------
    def packet(self, name: str, data: Any) -> eio_packet.Packet:
        """An event, encoded once however many sockets it goes to."""
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=self.namespace, data=[name, data]).encode()
        return eio_packet.Packet(eio_packet.MESSAGE, encoded)

    def _sent(self, socket: S, event: Event) -> None:
        """``event`` is on its way to ``socket``."""
        socket.last_sent = event["data"]["seq"]

    async def _replay(self, socket: S, packets: list[eio_packet.Packet], missed: Iterable[Event]) -> None:
        """Send ``packets`` (a snapshot, or nothing), then what the socket has not had of
        ``missed`` and of the live events that waited in its buffer, in one go."""
        for event in [*missed, *socket.buffer]:
            if event["data"]["seq"] > socket.last_sent:
                packets.append(self.packet(event["event"], event["data"]))
                self._sent(socket, event)
        socket.buffer.clear()
        await self.send(socket, packets)

    async def send(self, socket: S, packets: Iterable[eio_packet.Packet]) -> None:
        """Queue packets on the socket's connection, in order. ``emit()`` would start a task
        per event and socket and wait for it; on a busy floor that is most of the work."""
        eio_sid = self.server.manager.eio_sid_from_sid(socket.sid, self.namespace)
        if eio_sid is None:
            return  # gone meanwhile
        for packet in packets:
            await self.server.eio.send_packet(eio_sid, packet)

    # -- tasks -----------------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
