"""Phones-only callers work a campaign by keypad: the same commands, rows and events as a
browser caller's."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from realtime import app_keys
from realtime.store.models import Answer, CallAttempt, CallerSession, DialerMode, Household, HouseholdStatus

from tests.channels.floor import PERSON, SHORT_TALK, add_caller, add_campaign, phone


async def events_of(product, session_id: int) -> list[tuple[str, dict]]:
    return [(e["event"], e["data"]) for e in await product.app[app_keys.EVENT_LOG].since(session_id, 0) or []]


async def until_event(product, session_id: int, name: str, count: int = 1, **match) -> dict:
    """The ``count``-th event ``name`` (with ``match``) a supervisor would see for the session."""
    async def found() -> dict:
        while True:
            hits = [data for event, data in await events_of(product, session_id)
                    if event == name and all(data.get(k) == v for k, v in match.items())]
            if len(hits) >= count:
                return hits[count - 1]
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(found(), 10)


async def dial_in(product, far_end, pin: str) -> tuple[str, int]:
    channel = (await far_end.dial_in())["id"]
    await far_end.dtmf(channel, pin + "#")

    async def session_id() -> int:
        while True:
            async with product.store.sessions() as db:
                found = await db.scalar(select(CallerSession.id).where(CallerSession.caller_channel_id == channel))
            if found is not None:
                return found
            await asyncio.sleep(0.02)

    return channel, await asyncio.wait_for(session_id(), 10)


async def test_a_phones_only_caller_previews_dials_and_answers_the_survey_by_keypad(product, floor, far_end):
    numbers = [phone(SHORT_TALK), phone(PERSON), phone(PERSON)]
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, numbers)
    await add_caller(product.store, floor, campaign, phones_only=True, pin="424242")
    channel, session_id = await dial_in(product, far_end, "424242")

    presented = await until_event(product, session_id, "lead_presented")
    assert presented["household"]["phone"] == numbers[0]
    await far_end.dtmf(channel, "#")  # dial
    connected = await until_event(product, session_id, "call_connected")
    await until_event(product, session_id, "state_changed", state="wrap_up")  # the lead hung up after 5 s
    await far_end.dtmf(channel, "3")  # question 1: "Call back later" (a retry response)
    await far_end.dtmf(channel, "1")  # question 2: "Yes"
    await far_end.dtmf(channel, "#")  # save and continue
    saved = await until_event(product, session_id, "results_saved")
    assert saved["retry"] is True and saved["call_id"] == connected["call_id"]
    assert (await until_event(product, session_id, "lead_presented", count=2))["household"]["phone"] == numbers[1]

    async with product.store.sessions() as db:
        attempt = await db.scalar(select(CallAttempt).where(CallAttempt.channel_id == f"lead-{connected['call_id']}"))
        chosen = set(await db.scalars(select(Answer.possible_response_id).where(Answer.call_attempt_id == attempt.id)))
        household = await db.scalar(select(Household).where(Household.phone == numbers[0],
                                                             Household.campaign_id == campaign))
    q1, q2 = floor.script.questions
    assert chosen == {floor.script.responses[q1][2], floor.script.responses[q2][0]}
    assert household.status is HouseholdStatus.RETRY

    await far_end.dtmf(channel, "*")  # skip the second household
    assert (await until_event(product, session_id, "lead_presented", count=3))["household"]["phone"] == numbers[2]


async def test_two_stars_save_and_end_the_session(product, floor, far_end):
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [phone(SHORT_TALK), phone(PERSON)])
    await add_caller(product.store, floor, campaign, phones_only=True, pin="434343")
    channel, session_id = await dial_in(product, far_end, "434343")
    await until_event(product, session_id, "state_changed", state="wrap_up")
    await far_end.dtmf(channel, "1")
    await far_end.dtmf(channel, "**")
    await until_event(product, session_id, "results_saved")
    ended = await until_event(product, session_id, "session_ended")
    assert ended["reason"] == "stopped"
    assert await far_end.channel_ids(channel) == []  # their phone is hung up


async def test_an_unknown_pin_joins_nothing(product, floor, far_end):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    await add_caller(product.store, floor, campaign, phones_only=True, pin="454545")
    channel = (await far_end.dial_in())["id"]
    await far_end.dtmf(channel, "454546#")

    async def told_invalid() -> None:
        while not any(p["target_uri"] == f"channel:{channel}" and "sound:conf-invalidpin" in p["media"]
                      for p in (await far_end.request("GET", "_sim/journal"))["playbacks"]):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(told_invalid(), 10)
    async with product.store.sessions() as db:
        assert await db.scalar(select(CallerSession.id)) is None
