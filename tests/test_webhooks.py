"""Webhooks: written with the change, signed, delivered in order per subject, retried until they land."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy import select

from realtime.store.database import Store
from realtime.store.models import Account, DeliveryStatus, WebhookDelivery
from realtime.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookDispatcher,
    enqueue,
    sign,
    verify_signature,
)

SECRET = "account-secret-for-signatures"


class Receiver:
    """An integrator's endpoint: /ok answers 200, /flaky fails each delivery's first try with
    500, /slow leaves each delivery's first try unanswered, /broken always answers 500."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, str]] = []  # (path, delivery id, subject) as they arrive
        self.delivered: asyncio.Queue[tuple[dict, bytes, dict]] = asyncio.Queue()
        self.release = asyncio.Event()
        self._seen: set[tuple[str, int]] = set()
        self.app = web.Application()
        self.app.router.add_post("/{kind}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        envelope = json.loads(body)
        kind = request.match_info["kind"]
        self.requests.append((kind, envelope["id"], envelope["subject"]))
        first = (kind, envelope["id"]) not in self._seen
        self._seen.add((kind, envelope["id"]))
        if kind == "broken" or (kind == "flaky" and first):
            return web.Response(status=500, text="oops")
        if kind == "slow" and first:
            await self.release.wait()  # until the test ends: the dispatcher must give up first
        self.delivered.put_nowait((envelope, body, dict(request.headers)))
        return web.Response(status=204)

    async def next(self, timeout: float = 10) -> tuple[dict, bytes, dict]:
        return await asyncio.wait_for(self.delivered.get(), timeout)


@pytest.fixture
def store(shared_store: Store) -> Store:
    return shared_store


async def new_account(store: Store) -> int:
    async with store.transaction() as session:
        account = Account(name="Acme", api_key=f"ak_{uuid.uuid4().hex}", api_secret=SECRET)
        session.add(account)
    return account.id


@pytest.fixture
async def account_id(store: Store) -> int:
    """An account of the test's own in the module's database."""
    return await new_account(store)


@pytest.fixture
async def receiver(aiohttp_server) -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app, host="127.0.0.1")
    yield receiver, str(server.make_url(""))
    receiver.release.set()


def dispatcher_for(store: Store, **options) -> WebhookDispatcher:
    # Long enough that a healthy endpoint never times out on a busy CI machine; the receiver
    # is on 127.0.0.1, so private destinations are allowed unless a test says otherwise.
    options = {"timeout": 3, "backoff_base": 0.05, "poll_interval": 0.2, "allow_private": True, **options}
    return WebhookDispatcher(store, **options)


async def rows(store: Store, account_id: int) -> dict[int, WebhookDelivery]:
    async with store.sessions() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.account_id == account_id)
        return {d.id: d for d in await session.scalars(query)}


async def test_a_delivery_is_signed_with_the_account_secret(store, account_id, receiver):
    receiver, base = receiver
    dispatcher = dispatcher_for(store)
    await dispatcher.start()
    try:
        async with store.transaction() as session:
            delivery = await enqueue(session, account_id=account_id, subject="list:7", event="list.imported",
                                     url=base + "/ok", payload={"list_id": 7, "rows_imported": 3})
        dispatcher.notify()
        envelope, body, headers = await receiver.next()
        await dispatcher.flush()
    finally:
        await dispatcher.close()

    assert envelope["id"] == delivery.id
    assert envelope["event"] == "list.imported"
    assert envelope["subject"] == "list:7"
    assert envelope["data"] == {"list_id": 7, "rows_imported": 3}
    assert headers[EVENT_HEADER] == "list.imported"
    assert headers[DELIVERY_HEADER] == str(delivery.id)
    assert verify_signature(SECRET, headers[SIGNATURE_HEADER], body)
    assert not verify_signature("another-secret", headers[SIGNATURE_HEADER], body)
    assert not verify_signature(SECRET, headers[SIGNATURE_HEADER], body.replace(b"3", b"4"))
    [row] = (await rows(store, account_id)).values()
    assert row.status is DeliveryStatus.DELIVERED
    assert row.attempts == 1 and row.last_status_code == 204 and row.delivered_at is not None


def test_signatures_are_stale_after_the_tolerance():
    header = sign(SECRET, b"{}", timestamp=1_000_000)
    assert verify_signature(SECRET, header, b"{}", now=1_000_100)
    assert not verify_signature(SECRET, header, b"{}", now=1_000_400)
    assert verify_signature(SECRET, header, b"{}", tolerance=None)
    assert not verify_signature(SECRET, "garbage", b"{}")


async def test_nothing_is_sent_when_the_change_is_rolled_back(store, account_id):
    with pytest.raises(RuntimeError):
        async with store.transaction() as session:
            await enqueue(session, account_id=account_id, subject="list:1", event="list.imported",
                          url="http://127.0.0.1:9/ok", payload={})
            raise RuntimeError("the change failed")
    assert await rows(store, account_id) == {}


async def test_failures_and_timeouts_are_retried_in_order_per_subject(store, account_id, receiver):
    receiver, base = receiver
    async with store.transaction() as session:
        for n in range(3):
            for subject, kind in (("call:1", "flaky"), ("call:2", "slow" if n == 0 else "ok"), ("call:3", "ok")):
                await enqueue(session, account_id=account_id, subject=subject, event="call.state",
                              url=f"{base}/{kind}", payload={"n": n})
    dispatcher = dispatcher_for(store, timeout=2)
    await dispatcher.start()
    try:
        received = [await receiver.next() for _ in range(9)]
        await dispatcher.flush()
    finally:
        await dispatcher.close()

    by_subject = defaultdict(list)
    for envelope, _, _ in received:
        by_subject[envelope["subject"]].append(envelope["data"]["n"])
    assert by_subject == {"call:1": [0, 1, 2], "call:2": [0, 1, 2], "call:3": [0, 1, 2]}
    # Every attempt, failed ones included, went out in order within its subject.
    for subject in by_subject:
        ids = [delivery_id for _, delivery_id, s in receiver.requests if s == subject]
        assert ids == sorted(ids)
    stored = sorted((await rows(store, account_id)).values(), key=lambda d: d.id)
    assert all(d.status is DeliveryStatus.DELIVERED for d in stored)
    first_of = {d.subject: d for d in reversed(stored)}
    assert first_of["call:1"].attempts == 2  # a 500, then delivered
    assert first_of["call:2"].attempts == 2  # timed out, then delivered
    assert first_of["call:3"].attempts == 1


async def test_a_delivery_given_up_on_lets_its_subject_move_on(store, account_id, receiver):
    receiver, base = receiver
    async with store.transaction() as session:
        given_up = await enqueue(session, account_id=account_id, subject="list:3", event="list.imported",
                                 url=base + "/broken", payload={"n": 0})
        await enqueue(session, account_id=account_id, subject="list:3", event="list.imported",
                      url=base + "/ok", payload={"n": 1})
    dispatcher = dispatcher_for(store, max_age=dt.timedelta(0))
    await dispatcher.start()
    try:
        envelope, _, _ = await receiver.next()
        await dispatcher.flush()
    finally:
        await dispatcher.close()
    assert envelope["data"] == {"n": 1}
    failed = (await rows(store, account_id))[given_up.id]
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_status_code == 500 and failed.last_error == "HTTP 500"


async def test_deliveries_to_private_addresses_are_refused_unless_allowed(store, account_id, receiver):
    receiver, base = receiver
    port = base.rsplit(":", 1)[1]
    async with store.transaction() as session:
        by_name = await enqueue(session, account_id=account_id, subject=f"list:{account_id}-5", event="list.imported",
                                url=f"http://localhost:{port}/ok", payload={"n": 0})
        by_address = await enqueue(session, account_id=account_id, subject=f"list:{account_id}-6",
                                   event="list.imported", url=f"{base}/ok", payload={"n": 1})
    dispatcher = dispatcher_for(store, allow_private=False)
    await dispatcher.start()
    try:
        async with asyncio.timeout(10):
            while not all(d.attempts for d in (await rows(store, account_id)).values()):
                await asyncio.sleep(0.02)
    finally:
        await dispatcher.close()
    refused = await rows(store, account_id)
    assert receiver.requests == []
    assert refused[by_name.id].last_error == (
        "refused: localhost resolves to a loopback address; webhooks go to public addresses only")
    assert refused[by_address.id].last_error == (
        "refused: 127.0.0.1 is a loopback address; webhooks go to public addresses only")
    assert all(d.status is DeliveryStatus.PENDING and d.last_status_code is None for d in refused.values())

    dispatcher = dispatcher_for(store)  # allow_private: a test bench, or receivers on the same network
    await dispatcher.start()
    try:
        delivered = sorted([(await receiver.next())[0]["data"]["n"] for _ in range(2)])
        await dispatcher.flush()
    finally:
        await dispatcher.close()
    assert delivered == [0, 1]
    assert all(d.status is DeliveryStatus.DELIVERED for d in (await rows(store, account_id)).values())


# SQLite runs one dispatcher: it has one writer anyway.
@pytest.mark.parametrize("migrated_database_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_share_the_outbox_without_sending_twice(migrated_database_url, receiver):  # noqa: F811
    receiver, base = receiver
    stores = [Store(migrated_database_url), Store(migrated_database_url)]
    account_id = await new_account(stores[0])
    async with stores[0].transaction() as session:
        for n in range(8):
            for subject in range(5):
                await enqueue(session, account_id=account_id, subject=f"call:{account_id}-{subject}",
                              event="call.state", url=base + "/ok", payload={"n": n})
    dispatchers = [dispatcher_for(store, concurrency=3) for store in stores]
    for dispatcher in dispatchers:
        await dispatcher.start()
    try:
        received = [await receiver.next() for _ in range(40)]
        for dispatcher in dispatchers:
            await dispatcher.flush()
    finally:
        for dispatcher in dispatchers:
            await dispatcher.close()
        for store in stores:
            await store.close()
    ids = [envelope["id"] for envelope, _, _ in received]
    assert len(set(ids)) == 40 and len(receiver.requests) == 40  # each sent once
    for subject in range(5):
        got = [envelope["data"]["n"] for envelope, _, _ in received
               if envelope["subject"] == f"call:{account_id}-{subject}"]
        assert got == list(range(8))
