"""The web side's way to the engines: send a command over the bus, wait for its answer.

Used by the Socket.IO namespaces and the REST API alike; it knows nothing of either.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from realtime.bus import Bus, BusError, Message, Subscription

from . import protocol

logger = logging.getLogger(__name__)


class CallFlowClient:
    def __init__(self, bus: Bus, *, timeout: float = 10.0) -> None:
        self.bus = bus
        self.timeout = timeout
        self.web_id = uuid.uuid4().hex[:12]
        self._reply_topic = protocol.replies(self.web_id)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe(self._reply_topic, self._on_reply)

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        for future in self._waiting.values():
            future.cancel()

    async def request(self, command: str, *, account_id: int, session_id: int | None = None,
                      caller_id: int | None = None, payload: dict[str, Any] | None = None,
                      timeout: float | None = None, **extra: Any) -> dict[str, Any]:
        """The engine's ack for ``command``: ``{ok: true, ...}`` or ``{ok: false, error}``.

        An engine that does not answer in time (``timeout``, or the client's) gives
        ``engine-unavailable``: the command may or may not have been applied, which the
        session's events will tell."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message: Message = {"id": request_id, "reply_to": self._reply_topic, "command": command,
                            "account_id": account_id, "session_id": session_id, "caller_id": caller_id,
                            "payload": payload or {}, **extra}
        try:
            await self.bus.publish(protocol.COMMANDS, message)
            return await asyncio.wait_for(future, timeout or self.timeout)
        except (BusError, TimeoutError):
            logger.warning("no engine answered %s for session %s", command, session_id)
            return protocol.error("engine-unavailable", "The calling engine did not answer; try again.")
        finally:
            self._waiting.pop(request_id, None)

    async def _on_reply(self, topic: str, message: Message) -> None:
        future = self._waiting.get(message.get("id", ""))
        if future is not None and not future.done():
            future.set_result(message.get("reply") or protocol.error("engine-error", "empty reply"))
