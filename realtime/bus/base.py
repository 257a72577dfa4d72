"""The bus interface: publish/subscribe by topic between the engine and the web processes.

Every subscription owns a queue and a task, so its handler sees a topic's messages in
publish order, one at a time, and a slow handler delays only its own subscription.
"""
from __future__ import annotations

import abc
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.health import ComponentHealth

logger = logging.getLogger(__name__)

# Queues are unbounded so that no subscriber can block a publisher; a handler this far
# behind is stuck or too slow, and someone should hear about it.
_BACKLOG_WARNING = 10_000

Message = dict[str, Any]
"""A JSON-serialisable payload."""

Handler = Callable[[str, Message], Awaitable[None]]
"""Called as ``await handler(topic, message)``."""


class BusError(Exception):
    """The bus cannot carry the message (not started, closed, or Redis away too long)."""

    error_id = "bus-unavailable"


def encode(message: Message) -> str:
    """The wire form; raises TypeError for a message that is not JSON-serialisable."""
    return json.dumps(message, separators=(",", ":"))


def decode(payload: str | bytes) -> Message:
    return json.loads(payload)


class Subscription:
    """One handler on one topic, fed by the bus through :meth:`deliver`."""

    def __init__(
        self,
        topic: str,
        handler: Handler,
        on_unsubscribe: Callable[[Subscription], Awaitable[None]],
    ) -> None:
        self.topic = topic
        self._handler = handler
        self._on_unsubscribe = on_unsubscribe
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._closed = False
        self._task = asyncio.create_task(self._run(), name=f"bus-subscription:{topic}")

    def deliver(self, message: Message) -> None:
        """Queue a message for the handler; never blocks the caller."""
        if not self._closed:
            self._queue.put_nowait(message)
            if self._queue.qsize() == _BACKLOG_WARNING:
                logger.warning("bus handler %r on topic %r is %d messages behind",
                               self._handler, self.topic, _BACKLOG_WARNING)

    async def unsubscribe(self) -> None:
        """Stop delivery at once (queued messages are dropped). Safe to call twice."""
        if self._closed:
            return
        await self.close()
        await self._on_unsubscribe(self)

    async def close(self) -> None:
        """Stop the delivery task without telling the bus (the bus is closing)."""
        self._closed = True
        # A handler may unsubscribe itself: then its own task ends after it returns.
        if asyncio.current_task() is not self._task:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _run(self) -> None:
        while not self._closed:
            message = await self._queue.get()
            try:
                await self._handler(self.topic, message)
            except Exception:
                logger.exception("bus handler %r failed on topic %r", self._handler, self.topic)


class Bus(abc.ABC):
    """Publish/subscribe by topic; messages of a topic reach each subscriber in order."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; raises BusError naming the server when it cannot."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop all subscriptions and disconnect."""

    @abc.abstractmethod
    async def publish(self, topic: str, message: Message) -> None:
        """Send a message to every subscriber of the topic, in any process."""

    @abc.abstractmethod
    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        """Deliver the topic's messages published from now on to ``handler``."""

    @abc.abstractmethod
    def health(self) -> ComponentHealth:
        """The bus's state for ``/healthz``: cheap, no I/O."""
