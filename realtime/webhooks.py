"""Durable outbound webhooks: an outbox in the database, signed deliveries, retries for a day.

A change that integrators hear about (a list finished importing, a call changed state)
calls :func:`enqueue` in the transaction that makes the change, so the notification
exists exactly when the change does. :class:`WebhookDispatcher` then delivers the
outbox in the background: deliveries of one subject (``"list:12"``, ``"call:34"``) go
out strictly one after another in the order they were written, different subjects in
parallel. A receiver that fails or hangs only delays its own subject, never the caller
of :func:`enqueue`, which is one INSERT.

What the receiver gets: a POST with a JSON body
``{"id", "event", "subject", "created_at", "data"}`` and the headers

- ``X-Realtime-Event``: the event name, e.g. ``list.imported``;
- ``X-Realtime-Delivery``: the delivery id (the same on every retry: deduplicate on it);
- ``X-Realtime-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
  keyed with the account's API secret; :func:`verify_signature` checks one.

Any 2xx answer means delivered. Anything else (an error status, a refused connection,
no answer within the timeout) is retried with exponential backoff and jitter until
``max_age`` after the delivery was written; then it is marked failed and the subject's
next delivery goes out.

Deliveries go to public addresses only (see :mod:`realtime.destinations`) unless the
dispatcher is made with ``allow_private``: a URL whose host is, or resolves only to, a
private, loopback or link-local address is not requested, and the attempt is recorded
as failed with ``last_error`` saying why. It is retried like any failure: the
integrator may yet point the name at a public address, or the operator allow private
destinations.

Several processes may run dispatchers on one PostgreSQL database: each claims rows
with ``SELECT ... FOR UPDATE SKIP LOCKED`` and leases them for the length of one
attempt, so a delivery is attempted by one process at a time and a crashed process's
lease simply runs out. On SQLite, run one dispatcher.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
from typing import Any

import aiohttp
from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from realtime.destinations import RefusedDestination, connector, refused_url
from realtime.store.database import Store
from realtime.store.models import Account, DeliveryStatus, WebhookDelivery
from realtime.store.types import utcnow

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Realtime-Signature"
EVENT_HEADER = "X-Realtime-Event"
DELIVERY_HEADER = "X-Realtime-Delivery"
USER_AGENT = "ImpactDialing-Realtime-Webhooks/1"


async def enqueue(
    session: AsyncSession,
    *,
    account_id: int,
    subject: str,
    event: str,
    url: str,
    payload: dict[str, Any],
) -> WebhookDelivery:
    """Put a webhook in the outbox, in the caller's transaction; it goes out after the commit.

    Call the dispatcher's :meth:`WebhookDispatcher.notify` after committing to send it at
    once rather than at the next poll.
    """
    delivery = WebhookDelivery(
        account_id=account_id,
        subject=subject,
        event=event,
        url=url,
        payload=payload,
        status=DeliveryStatus.PENDING,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    await session.flush()
    return delivery


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Realtime-Signature`` header value for ``body`` sent at ``timestamp``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float | None = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, sent at most ``tolerance`` seconds ago.

    Receivers should use this (or its few lines) on the raw request body, before parsing it.
    """
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if tolerance is not None and abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def envelope(delivery: WebhookDelivery) -> bytes:
    """The request body for a delivery."""
    return json.dumps(
        {
            "id": delivery.id,
            "event": delivery.event,
            "subject": delivery.subject,
            "created_at": delivery.created_at.isoformat(),
            "data": delivery.payload,
        },
        separators=(",", ":"),
    ).encode()


class WebhookDispatcher:
    """Delivers the outbox: in order per subject, subjects in parallel, retrying for ``max_age``."""

    def __init__(
        self,
        store: Store,
        *,
        timeout: float = 10,
        max_age: dt.timedelta = dt.timedelta(days=1),
        backoff_base: float = 10,
        backoff_max: float = 3600,
        poll_interval: float = 5,
        concurrency: int = 20,
        allow_private: bool = False,
    ) -> None:
        self.store = store
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_age = max_age
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._posts: set[asyncio.Task] = set()
        self._closing = False
        self._loop_task: asyncio.Task | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            connector=connector(allow_private=self.allow_private),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": USER_AGENT},
        )
        self._loop_task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def close(self) -> None:
        """Stop: requests under way are abandoned and their deliveries handed back at once."""
        self._closing = True
        self._wake.set()
        for post in self._posts:
            post.cancel()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        await self.flush()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def flush(self) -> None:
        """Wait until every delivery under way has been attempted and its outcome recorded."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def notify(self) -> None:
        """Something was enqueued (and committed): look for due deliveries now."""
        self._wake.set()

    async def _run(self) -> None:
        # Never cancelled from outside: stopping mid-query could leave a connection half-used.
        while not self._closing:
            try:
                wait = await self._dispatch_due()
            except Exception:
                # The database may be briefly unreachable; the outbox waits for it.
                logger.exception("webhook dispatcher: cannot read the outbox")
                wait = self.poll_interval
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _dispatch_due(self) -> float:
        """Start the deliveries that are due; return how long to sleep before looking again."""
        room = self.concurrency - len(self._in_flight)
        if room <= 0:
            return self.poll_interval  # a delivery finishing wakes the loop
        claimed, next_due = await self._claim(room)
        for delivery, secret in claimed:
            if self._closing:
                await self._hand_back(delivery)
                continue
            task = asyncio.create_task(self._deliver(delivery, secret), name=f"webhook-{delivery.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._delivered)
        if next_due is None:
            return self.poll_interval
        return min(max((next_due - utcnow()).total_seconds(), 0.0), self.poll_interval)

    def _delivered(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("webhook delivery crashed", exc_info=task.exception())
        self._wake.set()  # the subject's next delivery may go now

    @staticmethod
    def _turn_of_subject():
        """Pending deliveries with no earlier pending one of the same subject."""
        earlier = aliased(WebhookDelivery)
        return and_(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            ~select(earlier.id).where(
                earlier.subject == WebhookDelivery.subject,
                earlier.status == DeliveryStatus.PENDING,
                earlier.id < WebhookDelivery.id,
            ).exists(),
        )

    async def _claim(self, limit: int) -> tuple[list[tuple[WebhookDelivery, str]], dt.datetime | None]:
        """Lease the first pending delivery of up to ``limit`` subjects whose turn it is;
        also when the next one is due (leased ones included), None when nothing is pending."""
        now = utcnow()
        query = (
            select(WebhookDelivery, Account.api_secret)
            .join(Account, Account.id == WebhookDelivery.account_id)
            .where(self._turn_of_subject(), WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if self.store.dialect == "postgresql":
            query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
        lease_until = now + dt.timedelta(seconds=self.timeout + 30)
        async with self.store.transaction() as session:
            rows = (await session.execute(query)).all()
            if rows:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([delivery.id for delivery, _ in rows]))
                    .values(next_attempt_at=lease_until)
                )
            # In the same transaction: the loop runs after every delivery, one round trip less.
            next_due = await session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(self._turn_of_subject()))
        return [(delivery, secret) for delivery, secret in rows], next_due

    async def _deliver(self, delivery: WebhookDelivery, secret: str) -> None:
        post = asyncio.create_task(self._post(delivery, secret))
        self._posts.add(post)
        try:
            status_code, error = await post
        except asyncio.CancelledError:
            if not self._closing:
                raise
            await self._hand_back(delivery)
            return
        finally:
            self._posts.discard(post)
        await self._record(delivery, status_code, error)

    async def _post(self, delivery: WebhookDelivery, secret: str) -> tuple[int | None, str | None]:
        """One attempt: (HTTP status or None, what went wrong or None)."""
        assert self._http is not None
        body = envelope(delivery)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
        }
        try:
            # aiohttp connects to a literal address without resolving it: checked here.
            if not self.allow_private and (reason := refused_url(delivery.url)):
                raise RefusedDestination(reason)
            async with self._http.post(delivery.url, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
        except RefusedDestination as exc:
            return None, f"refused: {exc}; webhooks go to public addresses only"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        return response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}"

    async def _hand_back(self, delivery: WebhookDelivery) -> None:
        """End a lease early, without counting an attempt (shutting down)."""
        async with self.store.transaction() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == DeliveryStatus.PENDING)
                .values(next_attempt_at=utcnow())
            )

    async def _record(self, delivery: WebhookDelivery, status_code: int | None, error: str | None) -> None:
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status_code": status_code, "last_error": error}
        if error is None:
            values.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=now)
        else:
            give_up_at = delivery.created_at + self.max_age
            if now >= give_up_at:
                values.update(status=DeliveryStatus.FAILED, next_attempt_at=now)
                logger.warning("webhook %s to %s failed for good: %s", delivery.id, delivery.url, error)
            else:
                values["next_attempt_at"] = min(now + dt.timedelta(seconds=self.backoff(attempts)), give_up_at)
                logger.info("webhook %s to %s: %s (attempt %d)", delivery.id, delivery.url, error, attempts)
        async with self.store.transaction() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(and_(WebhookDelivery.id == delivery.id, WebhookDelivery.status == DeliveryStatus.PENDING))
                .values(**values)
            )

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: doubling, jittered."""
        delay = min(self.backoff_base * 2 ** (attempts - 1), self.backoff_max)
        return delay / 2 + random.uniform(0, delay / 2)
