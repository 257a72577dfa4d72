"""The dial queue on SQLite and PostgreSQL: order, atomic reservation, recycling, blocking."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update

from realtime.dialer.queue import DialQueue, DialRefused
from realtime.store.database import Store
from realtime.store.models import CallAttempt, CallStatus, Household, HouseholdStatus, Lead, LeadStatus

NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.timezone.utc)


def phones(n: int, start: int = 0) -> list[str]:
    return [f"+1202555{i:04d}" for i in range(start, start + n)]


async def dial(queue: DialQueue, household_id: int, holder: str = "engine-a", now: dt.datetime = NOW) -> int:
    return await queue.start_call(household_id, holder=holder, dialer_mode="power",
                                  channel_id=f"line-{household_id}-{now.timestamp()}", now=now)


async def call_once(queue: DialQueue, campaign_id: int, outcome: CallStatus, now: dt.datetime = NOW, **kw):
    [household] = await queue.reserve(campaign_id, holder="engine-a", now=now)
    attempt = await dial(queue, household.id, now=now)
    return household, await queue.record_outcome(attempt, outcome, now=now, **kw)


async def test_households_come_in_upload_order_and_later_passes_keep_it(floor):
    campaign = await floor.campaign(recycle_interval_seconds=60)
    await floor.households(campaign, phones(4))
    queue = DialQueue(floor.store)

    first = await queue.reserve(campaign.id, holder="engine-a", count=3, now=NOW)
    assert [h.phone for h in first] == phones(3)
    assert [lead.first_name for lead in first[0].leads] == ["Lead 0"]
    for household in first:
        await queue.record_outcome(await dial(queue, household.id), CallStatus.NO_ANSWER, now=NOW)
    # The fourth, never called, comes before the recycled ones; those keep their order.
    later = NOW + dt.timedelta(seconds=61)
    again = await queue.reserve(campaign.id, holder="engine-a", count=10, now=later)
    assert [h.phone for h in again] == phones(4)[3:] + phones(3)


async def test_two_engines_never_reserve_the_same_household(floor, migrated_database_url):
    campaign = await floor.campaign()
    await floor.households(campaign, phones(60))
    other = Store(migrated_database_url)
    try:
        engines = [DialQueue(floor.store), DialQueue(other)]
        results = await asyncio.gather(*(
            engines[i % 2].reserve(campaign.id, holder=f"engine-{i % 2}", count=4, now=NOW) for i in range(20)
        ))
    finally:
        await other.close()
    reserved = [h.id for batch in results for h in batch]
    assert len(reserved) == 60 and len(set(reserved)) == 60
    async with floor.store.sessions() as session:
        holders = dict((await session.execute(
            select(Household.id, Household.reserved_by).where(Household.campaign_id == campaign.id)
        )).all())
    for i, batch in enumerate(results):
        assert all(holders[h.id] == f"engine-{i % 2}" for h in batch)


@pytest.mark.parametrize("outcome", [CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.MACHINE, CallStatus.ABANDONED])
async def test_open_leads_come_back_after_the_recycle_interval(floor, outcome):
    campaign = await floor.campaign(recycle_interval_seconds=600)
    await floor.households(campaign, phones(1))
    queue = DialQueue(floor.store)
    household, status = await call_once(queue, campaign.id, outcome)
    assert status is HouseholdStatus.RETRY
    assert await queue.reserve(campaign.id, holder="x", now=NOW + dt.timedelta(seconds=599)) == []
    [back] = await queue.reserve(campaign.id, holder="x", now=NOW + dt.timedelta(seconds=600))
    assert back.id == household.id and back.attempts == 1


@pytest.mark.parametrize("outcome, status", [
    (CallStatus.FAILED, HouseholdStatus.FAILED), (CallStatus.COMPLETED, HouseholdStatus.COMPLETED),
])
async def test_failed_and_completed_households_never_come_back(floor, outcome, status):
    campaign = await floor.campaign(recycle_interval_seconds=1)
    await floor.households(campaign, phones(1))
    queue = DialQueue(floor.store)
    assert (await call_once(queue, campaign.id, outcome))[1] is status
    assert await queue.reserve(campaign.id, holder="x", now=NOW + dt.timedelta(days=3)) == []


async def test_retry_response_and_other_open_leads_bring_a_household_back(floor):
    campaign = await floor.campaign(recycle_interval_seconds=60)
    await floor.households(campaign, phones(1), leads_each=2)
    queue = DialQueue(floor.store)
    later = NOW + dt.timedelta(seconds=60)

    household, status = await call_once(queue, campaign.id, CallStatus.COMPLETED, retry=True)
    assert status is HouseholdStatus.RETRY
    [again] = await queue.reserve(campaign.id, holder="x", now=later)
    attempt = await dial(queue, again.id, holder="x", now=later)
    # One of the two leads talked to: the other keeps the household in the queue.
    status = await queue.record_outcome(
        attempt, CallStatus.COMPLETED, completed_lead_ids=[again.leads[0].id], now=later)
    assert status is HouseholdStatus.RETRY
    [last] = await queue.reserve(campaign.id, holder="x", now=later + dt.timedelta(seconds=60))
    assert [lead.id for lead in last.leads] == [again.leads[1].id]


async def test_voicemail_is_left_once_and_comes_back_only_if_the_campaign_calls_back(floor):
    no_callback = await floor.campaign(recycle_interval_seconds=60)
    callback = await floor.campaign(recycle_interval_seconds=60, call_back_after_voicemail=True)
    await floor.households(no_callback, phones(1))
    await floor.households(callback, phones(1))
    queue = DialQueue(floor.store)
    later = NOW + dt.timedelta(seconds=60)

    [fresh] = await queue.reserve(no_callback.id, holder="x", now=NOW)
    assert fresh.may_leave_voicemail
    await queue.record_outcome(await dial(queue, fresh.id, holder="x"), CallStatus.VOICEMAIL_LEFT, now=NOW)
    assert await queue.reserve(no_callback.id, holder="x", now=later + dt.timedelta(days=1)) == []

    _, status = await call_once(queue, callback.id, CallStatus.VOICEMAIL_LEFT)
    assert status is HouseholdStatus.VOICEMAIL_LEFT
    [again] = await queue.reserve(callback.id, holder="engine-a", now=later)
    assert not again.may_leave_voicemail
    # A machine again: no second voicemail, and the household stays a voicemail household.
    attempt = await dial(queue, again.id, now=later)
    assert await queue.record_outcome(attempt, CallStatus.MACHINE, now=later) is HouseholdStatus.VOICEMAIL_LEFT
    async with floor.store.sessions() as session:
        assert await session.scalar(select(Household.voicemail_count).where(Household.id == again.id)) == 1


async def test_blocked_while_queued_is_never_dialled_and_unblocking_returns_it(floor):
    campaign = await floor.campaign()
    await floor.households(campaign, phones(2))
    queue = DialQueue(floor.store)
    [held, _] = await queue.reserve(campaign.id, holder="caller-1", count=2, now=NOW)
    await queue.release(holder="caller-1", household_ids=[_.id])

    async def block(phone: str, **flags: bool) -> None:
        async with floor.store.transaction() as session:
            await session.execute(
                update(Household).where(Household.campaign_id == campaign.id, Household.phone == phone)
                .values(**flags)
            )

    await block(held.phone, blocked_campaign=True)
    with pytest.raises(DialRefused) as refused:
        await dial(queue, held.id, holder="caller-1")
    assert refused.value.error_id == "number-blocked"
    await queue.release(holder="caller-1")
    await block(phones(2)[1], blocked_account=True)
    assert await queue.reserve(campaign.id, holder="x", count=5, now=NOW) == []

    await block(held.phone, blocked_campaign=False)
    assert [h.id for h in await queue.reserve(campaign.id, holder="x", count=5, now=NOW)] == [held.id]


async def test_reserved_but_never_dialled_households_return(floor):
    campaign = await floor.campaign()
    await floor.households(campaign, phones(3))
    queue = DialQueue(floor.store)
    gone = await queue.reserve(campaign.id, holder="caller-vanished", count=2, now=NOW)
    stuck = await queue.reserve(campaign.id, holder="engine-died", count=1, now=NOW)
    assert await queue.reserve(campaign.id, holder="x", now=NOW) == []

    assert await queue.release(holder="caller-vanished") == 2
    stale = dict(older_than=dt.timedelta(minutes=5), campaign_id=campaign.id)
    assert await queue.release_stale(now=NOW + dt.timedelta(minutes=4), **stale) == 0
    assert await queue.release_stale(now=NOW + dt.timedelta(minutes=6), **stale) == 1
    back = await queue.reserve(campaign.id, holder="x", count=5, now=NOW)
    assert sorted(h.id for h in back) == sorted(h.id for h in gone + stuck)
    assert all(h.attempts == 0 for h in back)


async def test_skipped_households_come_back_after_the_recycle_interval(floor):
    campaign = await floor.campaign(recycle_interval_seconds=120)
    await floor.households(campaign, phones(2))
    queue = DialQueue(floor.store)
    [first] = await queue.reserve(campaign.id, holder="caller-1", now=NOW)
    await queue.skip(first.id, holder="caller-1", now=NOW)
    [second] = await queue.reserve(campaign.id, holder="caller-1", now=NOW)
    assert second.id != first.id
    [back] = await queue.reserve(campaign.id, holder="caller-1", now=NOW + dt.timedelta(seconds=120))
    assert back.id == first.id


async def test_only_enabled_lists_are_dialled(floor):
    campaign = await floor.campaign()
    on = await floor.lead_list(campaign)
    off = await floor.lead_list(campaign, enabled=False)
    await floor.households(campaign, phones(2), lead_list=off)
    await floor.households(campaign, phones(2, start=10), lead_list=on)
    queue = DialQueue(floor.store)
    assert [h.phone for h in await queue.reserve(campaign.id, holder="x", count=9, now=NOW)] == phones(2, start=10)


async def test_nothing_is_reserved_or_dialled_outside_calling_hours(floor):
    campaign = await floor.campaign(
        calling_hours_start=dt.time(9, 0), calling_hours_end=dt.time(21, 0), time_zone="America/New_York",
    )
    await floor.households(campaign, phones(2))
    queue = DialQueue(floor.store)
    evening = dt.datetime(2026, 11, 26, 20, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert await queue.reserve(campaign.id, holder="x", now=evening + dt.timedelta(minutes=1)) == []
    [held] = await queue.reserve(campaign.id, holder="x", now=evening)
    # Reserved at 20:59 for a preview; the caller dials at 21:00: too late.
    with pytest.raises(DialRefused) as refused:
        await dial(queue, held.id, holder="x", now=evening + dt.timedelta(minutes=1))
    assert refused.value.error_id == "outside-calling-hours"


async def test_a_number_is_never_in_two_calls_at_once(floor):
    first = await floor.campaign()
    second = await floor.campaign()
    await floor.households(first, ["+12025550100"])
    await floor.households(second, ["+12025550100"])
    queue = DialQueue(floor.store)
    [a] = await queue.reserve(first.id, holder="engine-a", now=NOW)
    [b] = await queue.reserve(second.id, holder="engine-b", now=NOW)
    attempt = await dial(queue, a.id, holder="engine-a")
    with pytest.raises(DialRefused) as refused:
        await dial(queue, b.id, holder="engine-b")
    assert refused.value.error_id == "number-in-call"
    await queue.record_outcome(attempt, CallStatus.BUSY, now=NOW)
    await dial(queue, b.id, holder="engine-b")


async def test_a_repeated_outcome_changes_nothing(floor):
    campaign = await floor.campaign()
    await floor.households(campaign, phones(1))
    queue = DialQueue(floor.store)
    [household] = await queue.reserve(campaign.id, holder="x", now=NOW)
    attempt = await dial(queue, household.id, holder="x")
    assert await queue.record_outcome(attempt, CallStatus.COMPLETED, now=NOW) is HouseholdStatus.COMPLETED
    assert await queue.record_outcome(attempt, CallStatus.COMPLETED, now=NOW) is HouseholdStatus.COMPLETED
    async with floor.store.sessions() as session:
        assert (await session.scalars(select(Lead.status).where(Lead.campaign_id == campaign.id))).all() == [
            LeadStatus.COMPLETED
        ]


async def test_a_lost_call_answered_by_a_person_but_never_connected_counts_as_abandoned(floor):
    campaign = await floor.campaign(recycle_interval_seconds=60)
    await floor.households(campaign, phones(3))
    queue = DialQueue(floor.store)
    reserved = await queue.reserve(campaign.id, holder="engine-a", count=3, now=NOW)
    attempts = [await dial(queue, household.id) for household in reserved]
    await queue.update_call(attempts[1], answered_at=NOW)
    await queue.record_outcome(attempts[2], CallStatus.BUSY, now=NOW)

    later = NOW + dt.timedelta(minutes=5)
    lost = await queue.unfinished_calls(campaign.id, dialled_before=later)
    assert [call.id for call in lost] == attempts[:2]  # the busy one ended on record
    assert await queue.unfinished_calls(campaign.id, dialled_before=NOW) == []  # too recent to judge
    for call in lost:
        assert await queue.settle_lost_call(call, now=later) is HouseholdStatus.RETRY
    async with floor.store.sessions() as session:
        statuses = {a: await session.scalar(select(CallAttempt.status).where(CallAttempt.id == a)) for a in attempts}
    assert statuses == {attempts[0]: CallStatus.NO_ANSWER, attempts[1]: CallStatus.ABANDONED,
                        attempts[2]: CallStatus.BUSY}
