"""What every namespace does with a client's command before its own handler sees it:
a rate limit per socket, one JSON object as the payload, a size limit, and waiting for
the handshake to complete before the first events go out."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import socketio

from realtime.callflow import protocol


@dataclasses.dataclass
class RateLimit:
    """A token bucket: ``rate`` commands a second sustained, ``burst`` at once."""

    rate: float
    burst: float
    tokens: float = -1.0
    refilled: float = dataclasses.field(default_factory=time.monotonic)

    def allow(self) -> bool:
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def command_payload(event: str, data: tuple[Any, ...], known: frozenset[str],
                    max_bytes: int) -> tuple[dict[str, Any], None] | tuple[None, dict[str, Any]]:
    """``(payload, None)`` for a well-formed command, or ``(None, error ack)``."""
    if event not in known:
        return None, protocol.error("unknown-event", f"There is no command {str(event)[:50]!r}.")
    if len(data) > 1:
        return None, protocol.error("invalid-payload", "A command takes one object.")
    payload = data[0] if data else {}
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return None, protocol.error("invalid-payload", "A command takes one object.")
    try:
        size = len(json.dumps(payload, separators=(",", ":")))
    except (TypeError, ValueError):
        return None, protocol.error("invalid-payload", "The payload is not JSON.")
    if size > max_bytes:
        return None, protocol.error("payload-too-large", f"A command may carry at most {max_bytes} bytes.")
    return payload, None


def resync_seq(payload: dict[str, Any], *extra: str) -> int | None:
    """The ``last_seq`` of a resync payload (with no fields but ``extra``), or None."""
    last_seq = payload.get("last_seq")
    if isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0 \
            or set(payload) - {"last_seq", *extra}:
        return None
    return last_seq


async def until_connected(server: socketio.AsyncServer, sid: str, namespace: str) -> None:
    """A connect handler's events would reach the client before the handshake's answer,
    which drops them: wait until python-socketio has the socket connected (a loop turn or
    two), for at most a second."""
    for _ in range(100):
        if server.manager.is_connected(sid, namespace):
            return
        await asyncio.sleep(0.01)
