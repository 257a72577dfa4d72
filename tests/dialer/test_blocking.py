"""Blocked numbers are never dialled, even when blocked while queued; unblocking brings them back."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from realtime.dialer.blocking import block_numbers, unblock, unblock_numbers
from realtime.dialer.queue import DialQueue, DialRefused
from realtime.store.models import Account, BlockedNumber, Household
from tests.dialer.conftest import Floor

NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.timezone.utc)
PHONES = ["+12025550100", "+12025550101", "+12025550102"]


async def queued_phones(floor, campaign) -> list[str]:
    reserved = await DialQueue(floor.store).reserve(campaign.id, holder="test", count=100, now=NOW)
    await DialQueue(floor.store).release(holder="test")
    return [h.phone for h in reserved]


async def flags(floor, campaign) -> dict[str, tuple[bool, bool]]:
    async with floor.store.sessions() as session:
        rows = await session.scalars(select(Household).where(Household.campaign_id == campaign.id))
        return {h.phone: (h.blocked_account, h.blocked_campaign) for h in rows}


async def test_account_wide_block_reaches_every_campaign_and_unblock_returns_it(floor):
    first, second = await floor.campaign(), await floor.campaign(name="Second")
    await floor.households(first, PHONES)
    await floor.households(second, PHONES[:2])

    async with floor.store.transaction() as session:
        result = await block_numbers(session, account_id=floor.account_id, phones=[PHONES[1], PHONES[1]])
    assert [entry.phone for entry in result.added] == [PHONES[1]]
    assert await queued_phones(floor, first) == [PHONES[0], PHONES[2]]
    assert await queued_phones(floor, second) == [PHONES[0]]
    assert (await flags(floor, second))[PHONES[1]] == (True, False)

    async with floor.store.transaction() as session:
        again = await block_numbers(session, account_id=floor.account_id, phones=[PHONES[1]])
    assert again.added == [] and [e.phone for e in again.already_blocked] == [PHONES[1]]

    async with floor.store.transaction() as session:
        assert await unblock_numbers(session, account_id=floor.account_id, phones=[PHONES[1]]) == 1
    assert await queued_phones(floor, first) == PHONES
    assert await queued_phones(floor, second) == PHONES[:2]


async def test_campaign_block_leaves_other_campaigns_alone(floor):
    first, second = await floor.campaign(), await floor.campaign(name="Second")
    await floor.households(first, PHONES)
    await floor.households(second, PHONES)
    async with floor.store.transaction() as session:
        await block_numbers(session, account_id=floor.account_id, phones=PHONES[:2], campaign_id=first.id)
    assert await queued_phones(floor, first) == [PHONES[2]]
    assert await queued_phones(floor, second) == PHONES

    # Account-wide and campaign blocks are separate entries: lifting one keeps the other.
    async with floor.store.transaction() as session:
        await block_numbers(session, account_id=floor.account_id, phones=[PHONES[0]])
        await unblock_numbers(session, account_id=floor.account_id, phones=[PHONES[0]], campaign_id=first.id)
    assert await queued_phones(floor, first) == [PHONES[2]]
    assert (await flags(floor, first))[PHONES[0]] == (True, False)
    async with floor.store.transaction() as session:
        entry = await session.scalar(select(BlockedNumber).where(
            BlockedNumber.account_id == floor.account_id, BlockedNumber.phone == PHONES[0]))
        await unblock(session, entry)
    assert await queued_phones(floor, first) == [PHONES[0], PHONES[2]]


async def test_a_number_blocked_while_reserved_is_refused_at_dial_time(floor):
    campaign = await floor.campaign()
    await floor.households(campaign, PHONES[:1])
    queue = DialQueue(floor.store)
    [household] = await queue.reserve(campaign.id, holder="engine-a", now=NOW)
    async with floor.store.transaction() as session:
        await block_numbers(session, account_id=floor.account_id, phones=PHONES[:1], campaign_id=campaign.id)
    try:
        await queue.start_call(household.id, holder="engine-a", dialer_mode="power", channel_id="line-x", now=NOW)
    except DialRefused as refused:
        assert refused.error_id == "number-blocked"
    else:
        raise AssertionError("a blocked number was dialled")


async def test_blocking_does_not_touch_another_accounts_households(floor, shared_store):
    async with shared_store.transaction() as session:
        other_account = Account(name="Other", api_key=f"key-other-{floor.account_id}", api_secret="s")
        session.add(other_account)
    other = Floor(shared_store, other_account.id)
    campaign = await other.campaign()
    await other.households(campaign, PHONES)
    async with floor.store.transaction() as session:
        await block_numbers(session, account_id=floor.account_id, phones=PHONES)
    assert await queued_phones(other, campaign) == PHONES
