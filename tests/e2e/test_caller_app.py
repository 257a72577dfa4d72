"""A caller works leads in the caller app (/caller), in Chromium, against the simulator's far
ends: what they see, and what the store keeps."""
from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import func, select

from realtime.store.models import Answer, CallAttempt, DialerMode, NoteResponse
from tests.channels.floor import PERSON, add_caller, add_campaign, phone

from .conftest import sign_in


async def caller_on(product, floor, mode: DialerMode, phones: list[str], **settings) -> tuple[int, str]:
    campaign = await add_campaign(product.store, floor, mode, phones, **settings)
    _, username = await add_caller(product.store, floor, campaign)
    return campaign, username


async def answers_stored(product, channel_prefix: str = "lead-") -> list[tuple[str, int, int]]:
    async with product.store.sessions() as session:
        rows = await session.execute(select(CallAttempt.channel_id, func.count(Answer.id)).join(
            Answer, Answer.call_attempt_id == CallAttempt.id).group_by(CallAttempt.channel_id))
        return list(rows)


async def test_a_preview_caller_signs_in_starts_dials_talks_and_saves(product, floor, page):
    first, second = phone(PERSON), phone(PERSON)
    _, username = await caller_on(product, floor, DialerMode.PREVIEW, [first, second])
    await sign_in(page, product.url, username)
    await expect(page).to_have_url(product.url + "/caller")
    await expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible()
    await expect(page.get_by_text("preview campaign")).to_be_visible()

    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_text("Preview: read the lead, then dial or skip.")).to_be_visible()
    await expect(page.locator("#lead-phone")).to_have_text(first)
    await expect(page.get_by_role("heading", name="Lead0 Voter")).to_be_visible()
    await expect(page.locator("#script-texts strong")).to_have_text("this")

    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    await expect(page.get_by_role("timer")).to_have_text(re.compile(r"0:0\d"))
    await page.get_by_role("group", name="Will you vote? (required)").get_by_label("Yes").check()
    await page.get_by_role("button", name="Hang up").click()
    await expect(page.get_by_text("Call ended: fill in the survey and save.")).to_be_visible()

    # Required answers: the page refuses to save without them.
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("Need a ride?")
    await page.get_by_role("group", name="Need a ride? (required)").get_by_label("No").check()
    await page.get_by_label("Anything else?").fill("Wants a yard sign")
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.locator("#lead-phone")).to_have_text(second)

    async with product.store.sessions() as session:
        attempt = await session.scalar(select(CallAttempt).where(CallAttempt.wrapped_up_at.is_not(None)))
        assert attempt is not None
        assert await session.scalar(select(func.count()).select_from(Answer).where(
            Answer.call_attempt_id == attempt.id)) == 2
        note = await session.scalar(select(NoteResponse).where(NoteResponse.call_attempt_id == attempt.id))
        assert note.value == "Wants a yard sign"
