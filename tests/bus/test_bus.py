"""What every bus backend promises: order, fan-out, isolation between subscribers."""
from __future__ import annotations

import asyncio
import logging

import pytest

from realtime.bus import BusError, MemoryBus, RedisBus, create_bus
from realtime.health import Status


async def test_subscriber_gets_1000_messages_in_publish_order(bus, inbox):
    received = inbox()
    await bus.subscribe("campaign.7", received)
    for n in range(1000):
        await bus.publish("campaign.7", {"n": n})
    assert await received.take(1000) == [{"n": n} for n in range(1000)]


async def test_every_subscriber_gets_every_message(bus, inbox):
    subscribers = [inbox() for _ in range(3)]
    for received in subscribers:
        await bus.subscribe("caller.42", received)
    for n in range(20):
        await bus.publish("caller.42", {"n": n})
    for received in subscribers:
        assert await received.take(20) == [{"n": n} for n in range(20)]


async def test_subscriber_gets_only_its_topic(bus, inbox):
    received = inbox()
    await bus.subscribe("session.1", received)
    await bus.publish("session.2", {"for": "session 2"})
    await bus.publish("session.1", {"for": "session 1"})
    assert await received.take(1) == [{"for": "session 1"}]
    assert received.queue.empty()


async def test_unsubscribed_handler_gets_nothing_more(bus, inbox):
    leaving, staying = inbox(), inbox()
    subscription = await bus.subscribe("conference.9", leaving)
    await bus.subscribe("conference.9", staying)
    await bus.publish("conference.9", {"n": 0})
    assert await leaving.take(1) == [{"n": 0}]

    await subscription.unsubscribe()
    await subscription.unsubscribe()  # twice is harmless
    await bus.publish("conference.9", {"n": 1})
    await bus.publish("conference.9", {"n": 2})
    # The staying subscriber getting both means the leaving one would have had them too.
    assert await staying.take(3) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert leaving.queue.empty()


async def test_handler_may_unsubscribe_itself(bus, inbox):
    witness = inbox()
    seen = []
    subscription = None

    async def once(topic, message):
        seen.append(message)
        await subscription.unsubscribe()

    subscription = await bus.subscribe("lead.5", once)
    await bus.subscribe("lead.5", witness)
    await bus.publish("lead.5", {"n": 1})
    await bus.publish("lead.5", {"n": 2})
    await witness.take(2)
    assert seen == [{"n": 1}]


async def test_failing_handler_is_logged_and_delivery_continues(bus, inbox, caplog):
    received = inbox()

    async def fragile(topic, message):
        if message["n"] == 1:
            raise RuntimeError("handler bug")
        await received(topic, message)

    await bus.subscribe("transfer.3", fragile)
    with caplog.at_level(logging.ERROR, logger="realtime.bus"):
        for n in range(3):
            await bus.publish("transfer.3", {"n": n})
        assert await received.take(2) == [{"n": 0}, {"n": 2}]
    [record] = [r for r in caplog.records if r.exc_info]
    assert "transfer.3" in record.getMessage()
    assert "handler bug" in str(record.exc_info[1])


async def test_slow_subscriber_delays_nobody_else(bus, inbox):
    release = asyncio.Event()
    slow_received = inbox()

    async def slow(topic, message):
        await release.wait()
        await slow_received(topic, message)

    fast = inbox()
    await bus.subscribe("household.8", slow)
    await bus.subscribe("household.8", fast)
    for n in range(50):
        await asyncio.wait_for(bus.publish("household.8", {"n": n}), 5)
    assert await fast.take(50) == [{"n": n} for n in range(50)]
    assert slow_received.queue.empty()

    release.set()
    assert await slow_received.take(50) == [{"n": n} for n in range(50)]


async def test_subscriber_cannot_change_what_others_receive(bus, inbox):
    async def vandal(topic, message):
        message["answers"].append("tampered")
        await vandalised.put(message)

    vandalised: asyncio.Queue = asyncio.Queue()
    honest = inbox()
    await bus.subscribe("survey.1", vandal)
    await bus.subscribe("survey.1", honest)
    sent = {"answers": ["yes"]}
    await bus.publish("survey.1", sent)
    await asyncio.wait_for(vandalised.get(), 5)
    assert await honest.take(1) == [{"answers": ["yes"]}]
    assert sent == {"answers": ["yes"]}


async def test_message_that_is_not_json_is_refused(bus, inbox):
    received = inbox()
    await bus.subscribe("disposition.1", received)
    with pytest.raises(TypeError):
        await bus.publish("disposition.1", {"at": object()})
    await bus.publish("disposition.1", {"ok": True})
    assert await received.take(1) == [{"ok": True}]


async def test_health_follows_start_and_close(make_bus):
    bus = await make_bus(start=False)
    assert bus.health().status is Status.STARTING
    await bus.start()
    assert bus.health().status is Status.UP
    await bus.close()
    assert bus.health().status is Status.DOWN


async def test_closed_bus_refuses_to_publish(make_bus):
    bus = await make_bus()
    await bus.close()
    with pytest.raises(BusError) as refused:
        await bus.publish("campaign.1", {})
    assert refused.value.error_id == "bus-unavailable"


def test_redis_url_selects_the_redis_bus():
    assert isinstance(create_bus(None), MemoryBus)
    assert isinstance(create_bus("redis://127.0.0.1:6379/0"), RedisBus)
