"""Ordered delivery of ARI events to handlers registered per channel, per bridge, or for all.

One task delivers everything, in arrival order: a handler sees the events of its channel
in the order Asterisk sent them, and a slow handler delays later events instead of
reordering them. A handler that raises is logged and delivery goes on.

So a handler must not *await an event* (``wait_for``): the event it waits for can only be
delivered after the handler returns. Start such work in a task of its own.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Union

from .events import Event

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Union[Awaitable[None], None]]
EventPredicate = Callable[[Event], bool]
_Job = Callable[[], Awaitable[None]]


class Registration:
    """What ``on_channel``/``on_bridge``/``on_event`` return; ``remove()`` unregisters."""

    __slots__ = ("_table", "_key", "handler")

    def __init__(self, table: dict[str, list[Registration]], key: str, handler: Callable[..., Any]) -> None:
        self._table = table
        self._key = key
        self.handler = handler

    def remove(self) -> None:
        entries = self._table.get(self._key)
        if entries is None or self not in entries:
            return
        entries.remove(self)
        if not entries:
            del self._table[self._key]


class EventWaiter:
    """The first event matching a predicate, registered when created (so create it
    *before* the request that causes the event) and awaited with a deadline.

    A waiter nobody awaits unregisters itself at its deadline.
    """

    def __init__(self, dispatcher: EventDispatcher, predicate: EventPredicate, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._future: asyncio.Future[Event] = loop.create_future()
        self._predicate = predicate
        self._deadline = loop.time() + timeout
        self._registration = dispatcher.on_event(self._check)
        self._expiry = loop.call_at(self._deadline, self._registration.remove)

    def _check(self, event: Event) -> None:
        if self._future.done() or not self._predicate(event):
            return
        self._future.set_result(event)
        self._registration.remove()
        self._expiry.cancel()

    def cancel(self) -> None:
        self._registration.remove()
        self._expiry.cancel()
        self._future.cancel()

    async def wait(self) -> Event:
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), max(remaining, 0))
        finally:
            self._registration.remove()
            self._expiry.cancel()

    def __await__(self) -> Generator[Any, None, Event]:
        return self.wait().__await__()


class EventDispatcher:
    _ALL = "*"

    def __init__(self) -> None:
        self._channels: dict[str, list[Registration]] = {}
        self._bridges: dict[str, list[Registration]] = {}
        self._global: dict[str, list[Registration]] = {}
        self._queue: asyncio.Queue[Event | _Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # -- registration -------------------------------------------------------------
    def on_channel(self, channel_id: str, handler: Handler) -> Registration:
        return self._add(self._channels, channel_id, handler)

    def on_bridge(self, bridge_id: str, handler: Handler) -> Registration:
        return self._add(self._bridges, bridge_id, handler)

    def on_event(self, handler: Handler) -> Registration:
        return self._add(self._global, self._ALL, handler)

    def wait_for(self, predicate: EventPredicate, timeout: float) -> EventWaiter:
        return EventWaiter(self, predicate, timeout)

    def watched_channels(self) -> set[str]:
        return set(self._channels)

    def watched_bridges(self) -> set[str]:
        return set(self._bridges)

    @staticmethod
    def _add(table: dict[str, list[Registration]], key: str, handler: Handler) -> Registration:
        registration = Registration(table, key, handler)
        table.setdefault(key, []).append(registration)
        return registration

    # -- delivery -----------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ari-dispatch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def submit(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def submit_job(self, job: _Job) -> None:
        """Run ``job`` in the delivery task, after the events already queued."""
        self._queue.put_nowait(job)

    async def settle(self) -> None:
        """Until the events queued so far have been delivered (at once when not delivering).
        Never from inside the delivery task: it would wait for itself."""
        task = self._task
        if task is None or task.done():
            return
        delivered = asyncio.get_running_loop().create_future()

        async def mark() -> None:
            if not delivered.done():
                delivered.set_result(None)

        self.submit_job(mark)
        await asyncio.wait((delivered, task), return_when=asyncio.FIRST_COMPLETED)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, Event):
                    await self.deliver(item)
                else:
                    await item()
            except Exception:
                logger.exception("ARI dispatch job failed")

    async def deliver(self, event: Event) -> None:
        """Call the handlers of ``event`` now (only from inside the delivery task)."""
        registrations: list[Registration] = []
        for channel_id in event.channel_ids:
            registrations.extend(self._channels.get(channel_id, ()))
        for bridge_id in event.bridge_ids:
            registrations.extend(self._bridges.get(bridge_id, ()))
        registrations.extend(self._global.get(self._ALL, ()))
        for registration in registrations:
            try:
                result = registration.handler(event)
                # Most handlers are plain functions: skip isawaitable's ABC check for None.
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("ARI event handler %r failed on %s", registration.handler, event.type)
