"""The one-process bus: subscribers in the publisher's own event loop."""
from __future__ import annotations

import logging

from realtime.bus.base import Bus, BusError, Handler, Message, Subscription, decode, encode
from realtime.health import ComponentHealth, Status

logger = logging.getLogger(__name__)


class MemoryBus(Bus):
    def __init__(self) -> None:
        self._topics: dict[str, list[Subscription]] = {}
        self._health = ComponentHealth(Status.STARTING, "not started")

    async def start(self) -> None:
        self._health = ComponentHealth(Status.UP, "in-memory")

    async def close(self) -> None:
        self._health = ComponentHealth(Status.DOWN, "closed")
        subscriptions = [s for subs in self._topics.values() for s in subs]
        self._topics.clear()
        for subscription in subscriptions:
            await subscription.close()

    async def publish(self, topic: str, message: Message) -> None:
        self._check_running()
        # Going through JSON, as Redis does, keeps the backends interchangeable and
        # gives every subscriber its own copy to mutate.
        payload = encode(message)
        for subscription in self._topics.get(topic, ()):
            subscription.deliver(decode(payload))

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        self._check_running()
        subscription = Subscription(topic, handler, self._forget)
        self._topics.setdefault(topic, []).append(subscription)
        return subscription

    def health(self) -> ComponentHealth:
        return self._health

    async def _forget(self, subscription: Subscription) -> None:
        subscriptions = self._topics.get(subscription.topic, [])
        if subscription in subscriptions:
            subscriptions.remove(subscription)
        if not subscriptions:
            self._topics.pop(subscription.topic, None)

    def _check_running(self) -> None:
        if self._health.status is not Status.UP:
            raise BusError(f"the memory bus is not running ({self._health.detail})")
