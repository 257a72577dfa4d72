"""The scale-out bus: Redis pub/sub, one subscriber connection per process.

Redis pub/sub forgets whatever it sends while a subscriber is away, so this backend
watches its own subscription instead of trusting the socket: a private ping must come
back through it regularly, or the connection is dropped and made again. While Redis is
unreachable, publishes wait in a bounded queue and go out in order after the topics are
subscribed again, so this process's own subscribers lose nothing.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import random
import uuid
from urllib.parse import urlsplit

import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from realtime.bus.base import Bus, BusError, Handler, Message, Subscription, decode, encode
from realtime.health import ComponentHealth, Status

logger = logging.getLogger(__name__)

_FLUSH_BATCH = 100


class _SubscriptionDeaf(Exception):
    """The subscriber connection stopped answering, though it never said it was closed."""


class RedisBus(Bus):
    """Topics are Redis channels named ``channel_prefix + topic``; messages are JSON.

    ``ping_interval``/``ping_timeout``: how often the subscription proves it still hears,
    and how long a ping (or a SUBSCRIBE confirmation) may take. ``backoff_min``/``_max``:
    reconnection delays, doubling, with jitter. ``buffer_size``: publishes kept while Redis
    is away. ``command_timeout``: connecting and publishing.
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "realtime:",
        ping_interval: float = 2.0,
        ping_timeout: float = 2.0,
        backoff_min: float = 0.1,
        backoff_max: float = 5.0,
        buffer_size: int = 10_000,
        command_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.channel_prefix = channel_prefix
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._buffer_size = buffer_size
        self._command_timeout = command_timeout
        self.address = _address(url)
        self._ping_channel = f"{channel_prefix}~bus-ping:{uuid.uuid4().hex}"

        self._topics: dict[str, list[Subscription]] = {}
        # Publishes waiting for Redis, in order: (channel, payload).
        self._outbox: collections.deque[tuple[str, str]] = collections.deque()
        self._health = ComponentHealth(Status.STARTING, "not started")
        self._client: redis.asyncio.Redis | None = None
        self._conn: AbstractConnection | None = None  # the subscriber connection, once usable
        self._live: set[str] = set()  # channels confirmed on the current subscriber connection
        self._confirmations: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._ping: tuple[str, asyncio.Future[None]] | None = None
        self._ping_tokens = itertools.count()
        self._lost = asyncio.Event()
        self._lost_reason: BaseException | None = None
        self._first_up: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._delay = backoff_min  # before the next reconnection attempt
        self._down_since: float | None = None  # loop time the current outage began

    # -- Bus interface -------------------------------------------------------------

    async def start(self) -> None:
        self._health = ComponentHealth(Status.STARTING, f"connecting to Redis at {self.address}")
        # No hidden retries: reconnecting is this class's job, with its own backoff.
        # RESP2 on every redis-py version, so subscriber replies are plain lists.
        self._client = redis.asyncio.Redis.from_url(
            self.url,
            protocol=2,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=self._command_timeout,
            socket_timeout=self._command_timeout,
        )
        try:
            conn = await self._connect()
        except (RedisError, OSError) as exc:
            await self._client.aclose()
            self._client = None
            self._health = ComponentHealth(Status.DOWN, f"Redis at {self.address} is unreachable")
            raise BusError(f"cannot reach Redis at {self.address}: {exc}") from exc
        self._first_up = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(self._run(conn), name=f"redis-bus:{self.address}")
        try:
            await self._first_up
        except BusError:
            await self._client.aclose()
            self._client = self._supervisor = None
            raise

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.wait([self._supervisor])
            self._supervisor = None
        self._set_down(None)
        if self._outbox:
            logger.warning("bus: closing with %d messages never sent to Redis at %s",
                           len(self._outbox), self.address)
            self._outbox.clear()
        self._health = ComponentHealth(Status.DOWN, "closed")
        subscriptions = [s for subs in self._topics.values() for s in subs]
        self._topics.clear()
        for subscription in subscriptions:
            await subscription.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, topic: str, message: Message) -> None:
        self._check_started()
        channel, payload = self.channel_prefix + topic, encode(message)
        if self._health.status is not Status.UP:
            self._queue(channel, payload)
            return
        try:
            await self._client.publish(channel, payload)
        except (RedisError, OSError) as exc:
            # It may or may not have reached Redis: sending it again risks a duplicate,
            # dropping it risks a loss, and a loss is worse.
            self._queue(channel, payload)
            self._connection_lost(exc)

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        self._check_started()
        subscription = Subscription(topic, handler, self._forget)
        self._topics.setdefault(topic, []).append(subscription)
        channel = self.channel_prefix + topic
        if self._conn is not None and self._health.usable and channel not in self._live:
            # Wait for Redis to confirm, so what is published next is not missed; if the
            # connection fails meanwhile, the reconnection subscribes the topic again.
            try:
                await self._subscribe_channels(self._conn, [channel])
            except (RedisError, OSError, _SubscriptionDeaf) as exc:
                self._connection_lost(exc)
        return subscription

    def health(self) -> ComponentHealth:
        return self._health

    # -- connection lifecycle ------------------------------------------------------

    async def _connect(self) -> AbstractConnection:
        await self._client.ping()  # the publishing side works too
        pool = self._client.connection_pool
        # Its own connection, outside the pool, with no read timeout: it waits for messages.
        conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        try:
            await conn.connect()
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        return conn

    async def _run(self, conn: AbstractConnection | None) -> None:
        """Serve a connection until it fails, then reconnect with backoff, for ever."""
        while True:
            if conn is None:
                await asyncio.sleep(random.uniform(self._delay / 2, self._delay))
                self._delay = min(self._delay * 2, self._backoff_max)
                try:
                    conn = await self._connect()
                except Exception as exc:  # whatever it is, keep trying: never go deaf
                    self._set_down(exc)
                    continue
            try:
                reason = await self._serve(conn)
            finally:
                self._conn = None
                await conn.disconnect(nowait=True)
            conn = None
            self._set_down(reason)
            if not self._first_up.done():
                self._first_up.set_exception(
                    BusError(f"lost Redis at {self.address} while starting: {_describe(reason)}"))
                return

    async def _serve(self, conn: AbstractConnection) -> BaseException:
        """Read the connection, subscribe, flush, then watch it; return why it ended."""
        self._lost.clear()
        self._lost_reason = None
        tasks = [
            asyncio.create_task(self._read(conn)),
            asyncio.create_task(self._resume(conn)),
            asyncio.create_task(self._lost.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        for task in tasks:  # retrieve every outcome, so none is reported as "never retrieved"
            if not task.cancelled():
                task.exception()
        ended = done.pop()
        if ended is tasks[2]:
            return self._lost_reason or _SubscriptionDeaf("connection lost")
        return ended.exception() or _SubscriptionDeaf("connection task ended")

    async def _resume(self, conn: AbstractConnection) -> None:
        """Subscribe every topic, send what waited, report UP, then keep checking."""
        await self._subscribe_channels(conn, [self._ping_channel])
        while True:
            missing = [self.channel_prefix + topic for topic in self._topics
                       if self.channel_prefix + topic not in self._live]
            if missing:
                await self._subscribe_channels(conn, missing)
            elif self._outbox:
                await self._flush()
            else:
                break
        # No await since the checks above, so no topic or publish can slip in between.
        self._conn = conn
        self._health = ComponentHealth(Status.UP, f"Redis at {self.address}")
        self._delay = self._backoff_min
        if not self._first_up.done():
            self._first_up.set_result(None)
        elif self._down_since is not None:
            logger.info("bus: Redis at %s is back after %.1f s; %d topics subscribed again",
                        self.address, asyncio.get_running_loop().time() - self._down_since,
                        len(self._topics))
        self._down_since = None
        await self._watch()

    async def _flush(self) -> None:
        sent = 0
        while self._outbox:
            batch = list(itertools.islice(self._outbox, _FLUSH_BATCH))
            async with self._client.pipeline(transaction=False) as pipe:
                for channel, payload in batch:
                    pipe.publish(channel, payload)
                await pipe.execute()
            for _ in batch:
                self._outbox.popleft()
            sent += len(batch)
        logger.info("bus: sent %d messages that waited for Redis at %s", sent, self.address)

    async def _watch(self) -> None:
        """The "never silently deaf" rule: a ping must come back through the subscription."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._ping_interval)
            token = str(next(self._ping_tokens))
            self._ping = (token, loop.create_future())
            try:
                async with asyncio.timeout(self._ping_timeout):
                    await self._client.publish(self._ping_channel, token)
                    await self._ping[1]
            except TimeoutError:
                raise _SubscriptionDeaf(
                    f"no ping back through the subscription within {self._ping_timeout} s"
                ) from None
            finally:
                self._ping = None

    async def _read(self, conn: AbstractConnection) -> None:
        while True:
            reply = await conn.read_response(disconnect_on_error=False)
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            kind, channel = reply[0], reply[1].decode()
            if kind == b"message":
                self._dispatch(channel, reply[2])
            elif kind == b"subscribe":
                if channel[len(self.channel_prefix):] in self._topics:
                    self._live.add(channel)
                waiting = self._confirmations.get(channel)
                if waiting:
                    future = waiting.popleft()
                    if not future.done():
                        future.set_result(None)
                    if not waiting:
                        del self._confirmations[channel]

    def _dispatch(self, channel: str, data: bytes) -> None:
        if channel == self._ping_channel:
            if self._ping is not None and data.decode() == self._ping[0] and not self._ping[1].done():
                self._ping[1].set_result(None)
            return
        subscriptions = self._topics.get(channel[len(self.channel_prefix):])
        if not subscriptions:
            return
        try:
            for subscription in subscriptions:
                subscription.deliver(decode(data))  # one copy each
        except ValueError:
            logger.warning("bus: dropped a message on %r that is not JSON: %.200r", channel, data)

    async def _subscribe_channels(self, conn: AbstractConnection, channels: list[str]) -> None:
        """SUBSCRIBE and wait until Redis confirms each channel, so nothing published
        afterwards is missed. Confirmations come in order, one per channel and command."""
        loop = asyncio.get_running_loop()
        futures = []
        for channel in channels:
            future: asyncio.Future[None] = loop.create_future()
            self._confirmations.setdefault(channel, collections.deque()).append(future)
            futures.append(future)
        await conn.send_command("SUBSCRIBE", *channels, check_health=False)
        try:
            async with asyncio.timeout(self._ping_timeout):
                await asyncio.gather(*futures)
        except TimeoutError:
            raise _SubscriptionDeaf(f"SUBSCRIBE not confirmed within {self._ping_timeout} s") from None

    async def _forget(self, subscription: Subscription) -> None:
        subscriptions = self._topics.get(subscription.topic, [])
        if subscription in subscriptions:
            subscriptions.remove(subscription)
        if subscriptions:
            return
        self._topics.pop(subscription.topic, None)
        channel = self.channel_prefix + subscription.topic
        self._live.discard(channel)
        if self._conn is not None:
            try:
                await self._conn.send_command("UNSUBSCRIBE", channel, check_health=False)
            except (RedisError, OSError) as exc:
                self._connection_lost(exc)

    # -- state ---------------------------------------------------------------------

    def _queue(self, channel: str, payload: str) -> None:
        if len(self._outbox) >= self._buffer_size:
            raise BusError(
                f"Redis at {self.address} is unreachable and {len(self._outbox)} messages "
                f"are already waiting for it; not sent: {channel}"
            )
        self._outbox.append((channel, payload))

    def _connection_lost(self, exc: BaseException) -> None:
        """Called from outside the connection's tasks: stop publishing directly, reconnect."""
        if self._health.usable:
            self._health = ComponentHealth(Status.DOWN, f"Redis at {self.address}: {_describe(exc)}")
        self._lost_reason = self._lost_reason or exc
        self._lost.set()

    def _set_down(self, reason: BaseException | None) -> None:
        """Forget the connection's state; with a reason, report the outage (warn once)."""
        self._conn = None
        self._live.clear()
        for waiting in self._confirmations.values():
            for future in waiting:
                if not future.done():
                    future.set_result(None)  # the subscriber is registered; resumed later
        self._confirmations.clear()
        if reason is None:
            return
        self._health = ComponentHealth(
            Status.DOWN, f"Redis at {self.address}: {_describe(reason)}; reconnecting")
        if not isinstance(reason, (RedisError, OSError, _SubscriptionDeaf)):
            # A bug, not a network fault: say so loudly, and reconnect all the same.
            logger.error("bus: Redis connection failed unexpectedly", exc_info=reason)
        if self._down_since is None:
            self._down_since = asyncio.get_running_loop().time()
            logger.warning("bus: lost Redis at %s (%s); reconnecting", self.address, _describe(reason))
        else:
            logger.debug("bus: Redis at %s still unreachable: %s", self.address, _describe(reason))

    def _check_started(self) -> None:
        if self._client is None:
            raise BusError(f"the Redis bus is not running ({self._health.detail})")


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _address(url: str) -> str:
    """host:port (or the socket path) without credentials, for messages and health."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
