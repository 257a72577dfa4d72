"""Request limits per API key, shared by every web process through Redis when it is
configured (``limits`` library, moving window).

Every /v1 response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (Unix time, seconds, when a slot frees up); a refused request gets
429 with ``Retry-After`` (seconds). Requests without an API key count per client address.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "realtime-api"


@dataclasses.dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # Unix time

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


class RateLimiter:
    def __init__(self, limit: str, redis_url: str | None = None) -> None:
        """``limit`` like "600/minute" (settings validate it); Redis shares the counts."""
        self.item: RateLimitItem = parse(limit)
        self.storage: Storage
        if redis_url:
            self.storage = RedisStorage(_async_uri(redis_url), implementation="redispy", key_prefix=KEY_PREFIX)
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, identity: str) -> Verdict:
        allowed = await self.strategy.hit(self.item, identity)
        stats = await self.strategy.get_window_stats(self.item, identity)
        return Verdict(allowed, self.item.amount, stats.remaining, stats.reset_time)

    async def check(self, identity: str) -> Verdict:
        """Whether ``identity`` may go on, without counting this as a hit."""
        allowed = await self.strategy.test(self.item, identity)
        stats = await self.strategy.get_window_stats(self.item, identity)
        return Verdict(allowed, self.item.amount, stats.remaining, stats.reset_time)

    async def close(self) -> None:
        # limits offers no close(); release the Redis connection pool it holds, if any.
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


def _async_uri(url: str) -> str:
    # limits picks its asyncio Redis client by the "async+" scheme prefix.
    return url if url.startswith("async+") else "async+" + url
