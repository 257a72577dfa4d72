"""The Redis bus across processes and through Redis failures.

Failures are made on a redis-server of the test's own (never the shared one on 6379):
killed and restarted, its subscriber connections killed, or silenced by a relay that
stops relaying without closing anything.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from realtime.bus import BusError, RedisBus
from realtime.health import Status

# Fast enough for tests; production defaults are seconds.
QUICK = dict(ping_interval=0.1, ping_timeout=1.0, backoff_min=0.02, backoff_max=0.2,
             command_timeout=1.0)


class SilentRelay:
    """A TCP relay to Redis whose open connections can go silent, as on a dead network path:
    nothing is closed, bytes just stop arriving. New connections relay normally."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._links: list[dict] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def silence(self) -> None:
        for link in self._links:
            link["silent"] = True

    async def close(self) -> None:
        self._server.close()
        for link in self._links:
            for writer in link["writers"]:
                writer.close()

    async def _accept(self, reader, writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        link = {"silent": False, "writers": (writer, upstream_writer)}
        self._links.append(link)
        await asyncio.gather(self._relay(reader, upstream_writer, link),
                             self._relay(upstream_reader, writer, link),
                             return_exceptions=True)

    @staticmethod
    async def _relay(source, target, link) -> None:
        while data := await source.read(65536):
            if not link["silent"]:
                target.write(data)
                await target.drain()
        target.close()


@pytest.fixture
async def buses() -> AsyncIterator[list[RedisBus]]:
    """Buses the test made, closed at the end."""
    made: list[RedisBus] = []
    yield made
    for bus in made:
        await bus.close()


def quick_bus(url: str, buses: list[RedisBus], **options) -> RedisBus:
    bus = RedisBus(url, channel_prefix=f"test-{uuid.uuid4().hex}:", **{**QUICK, **options})
    buses.append(bus)
    return bus


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def until_status(bus: RedisBus, status: Status) -> None:
    await until(lambda: bus.health().status is status)


def warned(caplog, text: str) -> Callable[[], bool]:
    """An outage can be shorter than a poll of health; the warning it logs stays."""
    return lambda: any(r.levelno == logging.WARNING and text in r.getMessage()
                       for r in caplog.records)


async def test_start_without_redis_names_host_and_port(unused_port):
    port = unused_port()
    bus = RedisBus(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BusError) as refused:
        await bus.start()
    assert f"127.0.0.1:{port}" in str(refused.value)
    assert refused.value.error_id == "bus-unavailable"
    assert bus.health().status is Status.DOWN


async def test_every_process_gets_every_message(redis_url, inbox, buses):
    publisher = quick_bus(redis_url, buses)
    await publisher.start()
    inboxes = [inbox() for _ in range(3)]
    for received in inboxes:
        listener = RedisBus(redis_url, channel_prefix=publisher.channel_prefix)
        buses.append(listener)
        await listener.start()
        await listener.subscribe("campaign.3", received)
    for n in range(100):
        await publisher.publish("campaign.3", {"n": n})
    for received in inboxes:
        assert await received.take(100) == [{"n": n} for n in range(100)]


async def test_redis_restart_loses_no_message_and_needs_no_restart(redis_server, inbox, buses):
    bus = quick_bus(redis_server.url, buses)
    await bus.start()
    received = inbox()
    await bus.subscribe("caller.7", received)
    await bus.publish("caller.7", {"n": 0})
    assert await received.take(1) == [{"n": 0}]

    await redis_server.kill()
    await until_status(bus, Status.DOWN)
    assert f"127.0.0.1:{redis_server.port}" in bus.health().detail
    for n in range(1, 51):
        await bus.publish("caller.7", {"n": n})  # kept until Redis is back
    joined_meanwhile = inbox()
    await bus.subscribe("caller.8", joined_meanwhile)

    await redis_server.start()
    await until_status(bus, Status.UP)
    for n in range(51, 101):
        await bus.publish("caller.7", {"n": n})
    await bus.publish("caller.8", {"n": 0})
    assert await received.take(100) == [{"n": n} for n in range(1, 101)]
    assert await joined_meanwhile.take(1) == [{"n": 0}]


async def test_other_processes_hear_again_after_redis_restart(redis_server, inbox, buses):
    publisher = quick_bus(redis_server.url, buses)
    listener = RedisBus(redis_server.url, channel_prefix=publisher.channel_prefix, **QUICK)
    buses.append(listener)
    await publisher.start()
    await listener.start()
    received = inbox()
    await listener.subscribe("monitor", received)

    await redis_server.kill()
    await until_status(listener, Status.DOWN)
    await redis_server.start()
    await until_status(listener, Status.UP)
    await until_status(publisher, Status.UP)
    for n in range(100):
        await publisher.publish("monitor", {"n": n})
    assert await received.take(100) == [{"n": n} for n in range(100)]


async def test_killed_subscription_is_noticed_and_made_again(redis_server, inbox, buses, caplog):
    bus = quick_bus(redis_server.url, buses)
    await bus.start()
    received = inbox()
    await bus.subscribe("conference.4", received)

    admin = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        assert await admin.client_kill_filter(_type="pubsub") == 1
    finally:
        await admin.aclose()
    await until(warned(caplog, "lost Redis"))
    await until_status(bus, Status.UP)
    for n in range(10):
        await bus.publish("conference.4", {"n": n})
    assert await received.take(10) == [{"n": n} for n in range(10)]


async def test_silent_subscription_is_noticed_by_its_ping(redis_server, inbox, buses, caplog):
    relay = SilentRelay(redis_server.port)
    listener = quick_bus(await relay.start(), buses)
    publisher = RedisBus(redis_server.url, channel_prefix=listener.channel_prefix, **QUICK)
    buses.append(publisher)
    try:
        await listener.start()
        await publisher.start()
        received = inbox()
        await listener.subscribe("session.5", received)

        relay.silence()
        await until(warned(caplog, "no ping back through the subscription"))
        await until_status(listener, Status.UP)
        for n in range(10):
            await publisher.publish("session.5", {"n": n})
        assert await received.take(10) == [{"n": n} for n in range(10)]
    finally:
        await relay.close()


async def test_publish_refused_when_the_wait_queue_is_full(redis_server, buses):
    bus = quick_bus(redis_server.url, buses, buffer_size=3)
    await bus.start()
    await redis_server.kill()
    await until_status(bus, Status.DOWN)
    for n in range(3):
        await bus.publish("lead.1", {"n": n})
    with pytest.raises(BusError) as refused:
        await bus.publish("lead.1", {"n": 3})
    assert refused.value.error_id == "bus-unavailable"
    assert f"127.0.0.1:{redis_server.port}" in str(refused.value)
