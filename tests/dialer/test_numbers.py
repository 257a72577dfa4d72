"""A call job's numbers into its campaign's queue: read as lists read them, flagged when
blocked, dialled once however often they come; an uploaded list's households copied."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from realtime.dialer.numbers import add_numbers, copy_list, read_number
from realtime.dialer.queue import DialQueue
from realtime.store.models import BlockedNumber, Household, Lead, LeadStatus


def test_numbers_are_read_as_integrators_write_them():
    assert read_number("+12025550142") == "+12025550142"
    assert read_number("(202) 555-0142") == "+12025550142"
    assert read_number(12025550142) == "+12025550142"  # a JSON number with its country code
    assert read_number(2025550142) == "+12025550142"
    for bad in ("12", "", True, None, 1.5, {"phone": "+12025550142"}, "x" * 100, "+1202\x00555"):
        with pytest.raises(ValueError):
            read_number(bad)


async def households(floor, campaign_id: int) -> list[Household]:
    async with floor.store.sessions() as session:
        return list(await session.scalars(select(Household).where(Household.campaign_id == campaign_id)
                                          .order_by(Household.position)))


async def test_numbers_join_the_queue_in_order_once_each_with_the_bad_and_the_blocked_reported(floor):
    campaign = await floor.campaign()
    other = await floor.campaign()
    async with floor.store.transaction() as session:
        session.add_all([BlockedNumber(account_id=floor.account_id, phone="+12025550143"),
                         BlockedNumber(account_id=floor.account_id, campaign_id=campaign.id, phone="+12025550144"),
                         BlockedNumber(account_id=floor.account_id, campaign_id=other.id, phone="+12025550145")])
    async with floor.store.transaction() as session:
        first = await add_numbers(session, account_id=floor.account_id, campaign_id=campaign.id, numbers=[
            "+12025550142", "12", "+12025550143", "(202) 555-0142", "+12025550144", "+12025550145"])
    assert first.added == ["+12025550142", "+12025550143", "+12025550144", "+12025550145"]
    assert first.duplicates == 1
    assert first.rejected == [{"phone": "12", "reason": "not a valid number"},
                              {"phone": "+12025550143", "reason": "blocked"},
                              {"phone": "+12025550144", "reason": "blocked"}]
    async with floor.store.transaction() as session:
        second = await add_numbers(session, account_id=floor.account_id, campaign_id=campaign.id,
                                   numbers=[12025550146, "+12025550142"])
    assert (second.added, second.duplicates) == (["+12025550146"], 1)  # a number seen before in the job

    queued = await households(floor, campaign.id)
    assert [h.phone for h in queued] == ["+12025550142", "+12025550143", "+12025550144", "+12025550145",
                                         "+12025550146"]
    assert [(h.blocked_account, h.blocked_campaign) for h in queued][1:3] == [(True, False), (False, True)]
    reserved = await DialQueue(floor.store).reserve(campaign.id, holder="t", count=10)
    assert [h.phone for h in reserved] == ["+12025550142", "+12025550145", "+12025550146"]  # never the blocked
    assert all(len(h.leads) == 1 for h in reserved)


async def test_an_uploaded_lists_open_leads_are_copied_with_their_fields(floor):
    source = await floor.campaign()
    lead_list = await floor.lead_list(source)
    copied_from = await floor.households(source, ["+12025550150", "+12025550151", "+12025550152"],
                                         lead_list=lead_list, leads_each=2)
    await floor.households(source, ["+12025550153"])  # not on the list
    async with floor.store.transaction() as session:
        done = await session.scalar(select(Lead).where(Lead.household_id == copied_from[2].id))
        done.status = LeadStatus.COMPLETED  # one of the third household's two leads was reached
        session.add(BlockedNumber(account_id=floor.account_id, phone="+12025550151"))
    job = await floor.campaign()
    async with floor.store.transaction() as session:
        assert await copy_list(session, account_id=floor.account_id, campaign_id=job.id, list_id=lead_list.id) == 3
    queued = await households(floor, job.id)
    assert [h.phone for h in queued] == ["+12025550150", "+12025550151", "+12025550152"]
    assert [h.blocked_account for h in queued] == [False, True, False]
    async with floor.store.sessions() as session:
        leads = list(await session.scalars(select(Lead).where(Lead.campaign_id == job.id).order_by(Lead.id)))
    assert [lead.first_name for lead in leads] == ["Lead 0", "Lead 1", "Lead 0", "Lead 1", "Lead 1"]
    assert {lead.lead_list_id for lead in leads} == {None} and {lead.status for lead in leads} == {LeadStatus.OPEN}
    reserved = await DialQueue(floor.store).reserve(job.id, holder="t", count=10)
    assert [h.phone for h in reserved] == ["+12025550150", "+12025550152"]
    assert (await households(floor, source.id))[0].status.value == "not-called"  # the list's campaign is untouched
