"""Buses for the tests: every behavioural test runs on the memory and the Redis backend."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from realtime.bus import Bus, Message, MemoryBus, RedisBus


class Inbox:
    """A handler that keeps what it receives, for the test to await."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()

    async def __call__(self, topic: str, message: Message) -> None:
        await self.queue.put(message)

    async def take(self, count: int, timeout: float = 10.0) -> list[Message]:
        async with asyncio.timeout(timeout):
            return [await self.queue.get() for _ in range(count)]


@pytest.fixture
def inbox() -> type[Inbox]:
    return Inbox


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request) -> AsyncIterator[Callable[..., Awaitable[Bus]]]:
    """Make started buses of one kind; Redis ones share a channel prefix of their own."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    prefix = f"test-{uuid.uuid4().hex}:"
    buses: list[Bus] = []

    async def make(start: bool = True) -> Bus:
        bus = MemoryBus() if url is None else RedisBus(url, channel_prefix=prefix)
        buses.append(bus)
        if start:
            await bus.start()
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def bus(make_bus) -> Bus:
    return await make_bus()
