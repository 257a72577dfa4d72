"""Request limits (``limits`` library, moving window), shared by every web process through
Redis when it is configured.

Every /v1 response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (Unix time, seconds, when a slot frees up); a refused request gets
429 with ``Retry-After`` (seconds). What is counted, per API key or per client address, is
the API's business (see ``realtime.api.app``).

Redis is asked with a short timeout. When it does not answer (down, or hung: accepting
connections and never replying), the limiter says so in one log line and counts in this
process instead, asking Redis again every ``retry_interval`` seconds; one more line says
when Redis answers again. A request never waits on a broken Redis for more than the
timeout, and never fails for it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "realtime-api"
REDIS_TIMEOUT = 0.5  # seconds for Redis to answer one limiter call
RETRY_INTERVAL = 5.0  # seconds between two tries of a Redis that did not answer


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
    def __init__(self, limit: str, redis_url: str | None = None, *, timeout: float = REDIS_TIMEOUT,
                 retry_interval: float = RETRY_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        """``limit`` like "600/minute" (settings validate it): the one :meth:`hit` and
        :meth:`check` apply unless given another; Redis shares the counts."""
        self.item: RateLimitItem = parse(limit)
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._clock = clock
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._redis: RedisStorage | None = None
        if redis_url:
            self._redis = RedisStorage(_async_uri(redis_url), implementation="redispy", key_prefix=KEY_PREFIX,
                                       socket_timeout=timeout, socket_connect_timeout=timeout)
            self._shared = MovingWindowRateLimiter(self._redis)
        self._redis_failed_at: float | None = None  # while Redis does not answer: when it last did not

    @property
    def shared(self) -> bool:
        """Whether counts go to Redis (False without Redis, or while it does not answer)."""
        return self._shared is not None and self._redis_failed_at is None

    async def hit(self, identity: str, item: RateLimitItem | None = None) -> Verdict:
        """Count one request of ``identity``; whether it may go on."""
        return await self._verdict(identity, item or self.item, count=True)

    async def check(self, identity: str, item: RateLimitItem | None = None) -> Verdict:
        """Whether ``identity`` may go on, without counting this as a hit."""
        return await self._verdict(identity, item or self.item, count=False)

    async def _verdict(self, identity: str, item: RateLimitItem, *, count: bool) -> Verdict:
        key = _key(identity)
        if self._shared is not None and self._may_ask_redis():
            try:
                async with asyncio.timeout(self.timeout):
                    verdict = await _ask(self._shared, item, key, count)
            except Exception as exc:  # noqa: BLE001 - whatever Redis does, the API goes on
                self._redis_failed(exc)
            else:
                self._redis_answered()
                return verdict
        return await _ask(self._local, item, key, count)

    def _may_ask_redis(self) -> bool:
        failed_at = self._redis_failed_at
        return failed_at is None or self._clock() - failed_at >= self.retry_interval

    def _redis_failed(self, exc: Exception) -> None:
        if self._redis_failed_at is None:
            # One line, no traceback: every request would repeat it while Redis is away.
            logger.warning("rate limits are counted in this process only: Redis did not answer within %g s (%s); "
                           "trying it again every %g s", self.timeout, _describe(exc), self.retry_interval)
        self._redis_failed_at = self._clock()

    def _redis_answered(self) -> None:
        if self._redis_failed_at is not None:
            logger.info("Redis answers again: rate limits are shared again")
            self._redis_failed_at = None

    async def close(self) -> None:
        # limits offers no close(); release the Redis connection pool it holds, if any.
        client = getattr(getattr(self._redis, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


async def _ask(strategy: MovingWindowRateLimiter, item: RateLimitItem, key: str, count: bool) -> Verdict:
    allowed = await (strategy.hit(item, key) if count else strategy.test(item, key))
    stats = await strategy.get_window_stats(item, key)
    return Verdict(allowed, item.amount, stats.remaining, stats.reset_time)


def _key(identity: str) -> str:
    # Redis keys are UTF-8: a lone surrogate in a claimed key or a login would not encode.
    return identity.encode("utf-8", "backslashreplace").decode("utf-8")


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _async_uri(url: str) -> str:
    # limits picks its asyncio Redis client by the "async+" scheme prefix.
    return url if url.startswith("async+") else "async+" + url
