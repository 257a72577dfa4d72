"""Rows go in and come back the same on both databases; the unique rules hold."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from realtime.store.database import Store
from realtime.store.models import (
    Account,
    Answer,
    CallAttempt,
    Caller,
    CallerSession,
    CallerSessionStatus,
    CallStatus,
    Campaign,
    DialerMode,
    Household,
    HouseholdStatus,
    Lead,
    LeadList,
    PossibleResponse,
    Question,
    Script,
    ScriptText,
)
from realtime.store.types import utcnow

NEW_YORK = dt.timezone(dt.timedelta(hours=-5))


async def add(store: Store, *rows):
    async with store.transaction() as session:
        session.add_all(rows)
    return rows[0] if len(rows) == 1 else rows


async def account(store: Store, name: str = "Acme") -> Account:
    return await add(store, Account(name=name, api_key=f"ak_{name}", api_secret="s" * 43))


async def campaign(store: Store, account_id: int, name: str = "GOTV") -> Campaign:
    return await add(store, Campaign(account_id=account_id, name=name, dialer_mode=DialerMode.PREDICTIVE))


async def test_rows_round_trip_with_aware_utc_times(store: Store) -> None:
    acct = await account(store)
    script = Script(account_id=acct.id, name="Survey", texts=[
        ScriptText(position=2, content="## Bye"), ScriptText(position=1, content="## Hello"),
    ], questions=[Question(position=1, text="Vote?", responses=[
        PossibleResponse(position=2, value="No", keypad="2"),
        PossibleResponse(position=1, value="Yes", keypad="1"),
        PossibleResponse(position=3, value="Call back later", keypad="9", retry=True),
    ])])
    await add(store, script)
    camp = await add(store, Campaign(
        account_id=acct.id, name="GOTV", dialer_mode=DialerMode.PREVIEW, script_id=script.id,
        calling_hours_start=dt.time(8, 30), calling_hours_end=dt.time(20, 0),
        acceptable_abandon_rate=Decimal("0.0250"),
    ))
    caller = await add(store, Caller(account_id=acct.id, username="ann", pin="123456", campaign_id=camp.id))
    household = await add(store, Household(account_id=acct.id, campaign_id=camp.id, phone="+15555550100", position=1))
    lead = await add(store, Lead(account_id=acct.id, campaign_id=camp.id, household_id=household.id,
                                 first_name="Zoë", custom_fields={"Ward": "Ward 3", "Party": "Green"}))
    dialed = dt.datetime(2026, 3, 8, 1, 59, 58, 123456, tzinfo=NEW_YORK)  # around a DST change
    session_row = await add(store, CallerSession(
        account_id=acct.id, caller_id=caller.id, campaign_id=camp.id, started_at=utcnow(),
        conference_bridge_id="conf-1",
    ))
    call = await add(store, CallAttempt(
        account_id=acct.id, campaign_id=camp.id, household_id=household.id, lead_id=lead.id,
        caller_id=caller.id, caller_session_id=session_row.id, dialer_mode="preview",
        channel_id="chan-1", dialed_at=dialed, answered_at=dialed + dt.timedelta(seconds=7),
    ))
    question = script.questions[0]
    await add(store, Answer(account_id=acct.id, call_attempt_id=call.id, lead_id=lead.id,
                            campaign_id=camp.id, caller_id=caller.id, question_id=question.id,
                            possible_response_id=question.responses[0].id, created_at=utcnow()))

    async with store.sessions() as session:
        got_call = await session.get(CallAttempt, call.id)
        assert got_call.dialed_at == dialed
        assert got_call.dialed_at.tzinfo is dt.timezone.utc
        assert got_call.answered_at - got_call.dialed_at == dt.timedelta(seconds=7)
        assert got_call.status is CallStatus.DIALING
        assert got_call.ended_at is None

        got_script = await session.get(Script, script.id)
        assert [t.content for t in got_script.texts] == ["## Hello", "## Bye"]
        responses = got_script.questions[0].responses
        assert [(r.value, r.keypad, r.retry) for r in responses] == [
            ("Yes", "1", False), ("No", "2", False), ("Call back later", "9", True)]

        got_campaign = await session.get(Campaign, camp.id)
        assert (got_campaign.calling_hours_start, got_campaign.calling_hours_end) == (dt.time(8, 30), dt.time(20))
        assert got_campaign.acceptable_abandon_rate == Decimal("0.025")
        assert got_campaign.dialer_mode is DialerMode.PREVIEW

        got_lead = await session.get(Lead, lead.id)
        assert got_lead.custom_fields == {"Ward": "Ward 3", "Party": "Green"}
        assert got_lead.first_name == "Zoë"
        got_household = await session.get(Household, household.id)
        assert got_household.status is HouseholdStatus.NOT_CALLED
        assert got_household.created_at.tzinfo is dt.timezone.utc
        assert (await session.get(CallerSession, session_row.id)).status is CallerSessionStatus.CONNECTING
        assert await session.scalar(select(Answer.possible_response_id)) == question.responses[0].id


async def test_naive_datetimes_are_refused(store: Store) -> None:
    acct = await account(store)
    camp = await campaign(store, acct.id)
    with pytest.raises(StatementError, match="naive datetime"):
        await add(store, Household(account_id=acct.id, campaign_id=camp.id, phone="+15555550100",
                                   position=1, dialable_at=dt.datetime(2026, 1, 1)))


async def test_household_phone_is_unique_per_campaign(store: Store) -> None:
    acct = await account(store)
    first, second = await campaign(store, acct.id, "A"), await campaign(store, acct.id, "B")
    await add(store, Household(account_id=acct.id, campaign_id=first.id, phone="+15555550100", position=1))
    await add(store, Household(account_id=acct.id, campaign_id=second.id, phone="+15555550100", position=1))
    with pytest.raises(IntegrityError):
        await add(store, Household(account_id=acct.id, campaign_id=first.id, phone="+15555550100", position=2))
    async with store.sessions() as session:
        assert len((await session.scalars(select(Household))).all()) == 2


async def test_caller_usernames_are_unique_everywhere_and_pins_per_account(store: Store) -> None:
    acme, other = await account(store, "acme"), await account(store, "other")
    await add(store, Caller(account_id=acme.id, username="ann", pin="111111"))
    # Another account may use the same PIN, but not the username: /login takes it alone.
    await add(store, Caller(account_id=other.id, username="bea", pin="111111"))
    with pytest.raises(IntegrityError):
        await add(store, Caller(account_id=other.id, username="ann", pin="222222"))
    with pytest.raises(IntegrityError):
        await add(store, Caller(account_id=acme.id, username="ann", pin="222222"))
    with pytest.raises(IntegrityError):
        await add(store, Caller(account_id=acme.id, username="bob", pin="111111"))


async def test_one_answer_per_question_per_call(store: Store) -> None:
    acct = await account(store)
    script = await add(store, Script(account_id=acct.id, name="S", questions=[
        Question(text="Q1", responses=[PossibleResponse(value="Yes", keypad="1"),
                                       PossibleResponse(value="No", keypad="2")]),
        Question(text="Q2", responses=[PossibleResponse(value="Yes", keypad="1")]),
    ]))
    camp = await campaign(store, acct.id)
    household = await add(store, Household(account_id=acct.id, campaign_id=camp.id, phone="+15555550100", position=1))
    call = await add(store, CallAttempt(account_id=acct.id, campaign_id=camp.id, household_id=household.id,
                                        dialer_mode="predictive", dialed_at=utcnow()))
    q1, q2 = script.questions

    def answer(question: Question, response: PossibleResponse) -> Answer:
        return Answer(account_id=acct.id, call_attempt_id=call.id, campaign_id=camp.id,
                      question_id=question.id, possible_response_id=response.id, created_at=utcnow())

    await add(store, answer(q1, q1.responses[0]), answer(q2, q2.responses[0]))
    with pytest.raises(IntegrityError):
        await add(store, answer(q1, q1.responses[1]))


async def test_deleting_a_campaign_removes_its_households_and_leads(store: Store) -> None:
    acct = await account(store)
    camp = await campaign(store, acct.id)
    lead_list = await add(store, LeadList(account_id=acct.id, campaign_id=camp.id, name="L"))
    household = await add(store, Household(account_id=acct.id, campaign_id=camp.id, phone="+15555550100", position=1))
    await add(store, Lead(account_id=acct.id, campaign_id=camp.id, household_id=household.id,
                          lead_list_id=lead_list.id))
    async with store.transaction() as session:
        await session.delete(await session.get(Campaign, camp.id))
    async with store.sessions() as session:
        for model in (Household, Lead, LeadList):
            assert (await session.scalars(select(model))).all() == []
