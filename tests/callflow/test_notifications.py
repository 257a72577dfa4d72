"""Call-state notifications into the webhook outbox: the URL filled in, a sequence per
subject with any number of writers, and one notification the store refuses never holding
up the rest."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from realtime.callflow.notifications import CallStateNotifier, Notice, fill_url, write
from realtime.store.database import Store
from realtime.store.models import Account, CallJob, Campaign, DialerMode, WebhookDelivery

TEMPLATE = "https://crm.example/calls/:id/callers/:caller_id/state_change?identity=:identity"


def test_the_url_names_the_call_and_the_caller():
    assert fill_url(TEMPLATE, job_id=3, call_id="ab12", reference="alice@crm") == \
        "https://crm.example/calls/ab12/callers/alice%40crm/state_change?identity=:identity"
    assert fill_url(TEMPLATE, job_id=3, call_id=None, reference=None) == \
        "https://crm.example/calls/3/callers/-/state_change?identity=:identity"


def test_a_notice_has_the_fields_of_its_event():
    assert Notice(1, "hung_up", "c", fields={"status": "busy", "by": "system", "duration_s": 0.0}).subject == "call:c"
    assert Notice(1, "caller_connected", caller=7).subject == "caller:7"
    assert Notice(1, "job_ended", fields={"reason": "stopped"}).subject == "call-job:1"
    with pytest.raises(TypeError):
        Notice(1, "hung_up", "c", fields={"status": "busy"})


async def new_job(store: Store, url: str = TEMPLATE) -> tuple[int, int]:
    async with store.transaction() as session:
        account = Account(name="Acme", api_key=f"ak_{uuid.uuid4().hex}", api_secret="secret")
        session.add(account)
        await session.flush()
        campaign = Campaign(account_id=account.id, name="Job", dialer_mode=DialerMode.POWER)
        session.add(campaign)
        await session.flush()
        session.add(CallJob(id=campaign.id, account_id=account.id, call_state_url=url))
    return account.id, campaign.id


async def deliveries(store: Store, account_id: int) -> list[WebhookDelivery]:
    async with store.sessions() as session:
        return list(await session.scalars(select(WebhookDelivery).where(WebhookDelivery.account_id == account_id)
                                          .order_by(WebhookDelivery.id)))


async def test_writers_side_by_side_number_a_subject_without_gaps_or_repeats(shared_store):
    account_id, job_id = await new_job(shared_store)

    async def writer(n: int) -> None:
        for _ in range(5):
            async with shared_store.transaction() as session:
                await write(session, [Notice(job_id, "numbers_resumed")], account_id=account_id, url=TEMPLATE,
                            references={})

    await asyncio.gather(*(writer(n) for n in range(3)))
    written = await deliveries(shared_store, account_id)
    assert [d.payload["sequence"] for d in written] == list(range(1, 16))
    assert {d.subject for d in written} == {f"call-job:{job_id}"}


@pytest.fixture
async def postgres_store(shared_postgres_url: str):
    """PostgreSQL's: it refuses a value longer than its column, where SQLite stores it."""
    store = Store(shared_postgres_url)
    yield store
    await store.close()


async def test_a_notification_the_store_refuses_is_dropped_and_the_others_go_out(postgres_store):
    shared_store = postgres_store
    # Written straight to the store: the API refuses a call_state_url this long.
    account_id, job_id = await new_job(shared_store, "https://crm.example/" + "x" * 1970 + "/:id")
    other_account, other_job = await new_job(shared_store)
    notifier = CallStateNotifier(shared_store)
    await notifier.start()
    try:
        notifier._put(Notice(job_id, "dialing", "0123456789abcdef", fields={"phone": "+12025550142"}))
        notifier._put(Notice(other_job, "dialing", "fedcba9876543210", fields={"phone": "+12025550143"}))

        async def written() -> None:
            while not notifier.idle or not await deliveries(shared_store, other_account):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(written(), 10)
    finally:
        await notifier.close()
    assert await deliveries(shared_store, account_id) == []
    [delivered] = await deliveries(shared_store, other_account)
    assert delivered.payload["call_id"] == "fedcba9876543210" and delivered.payload["sequence"] == 1
