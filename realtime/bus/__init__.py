"""The event-bus seam between the engine and the web processes.

One interface (:class:`Bus`), two backends: :class:`MemoryBus` for a single process and
:class:`RedisBus` (Redis pub/sub) when several processes share the work.
"""
from __future__ import annotations

from realtime.bus.base import Bus, BusError, Handler, Message, Subscription
from realtime.bus.memory import MemoryBus
from realtime.bus.redis import RedisBus

__all__ = ["Bus", "BusError", "Handler", "MemoryBus", "Message", "RedisBus", "Subscription",
           "create_bus"]


def create_bus(redis_url: str | None) -> Bus:
    """The Redis bus when a Redis URL is configured, else the in-memory one."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
