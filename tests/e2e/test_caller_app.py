"""A caller works leads in the caller app (/caller), in Chromium, against the simulator's far
ends: what they see, and what the store keeps."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from realtime.store.models import Answer, CallAttempt, DialerMode, Household, Lead, NoteResponse, Script, ScriptText, \
    TransferAttempt
from tests.channels.floor import PERSON, add_caller, add_campaign, add_recording, phone

from .conftest import PHONE, sign_in


async def working_caller(product, floor, page, mode: DialerMode, phones: list[str]) -> str:
    """A caller of a new campaign, signed in and in the caller app."""
    campaign = await add_campaign(product.store, floor, mode, phones)
    _, username = await add_caller(product.store, floor, campaign)
    await sign_in(page, product.url, username)
    await expect(page).to_have_url(product.url + "/caller")
    await expect(page.locator("#connection")).to_have_text("Connected")
    return username


async def stored_results(product) -> list[tuple[str, int, list[str]]]:
    """Each call with results: (its lead's first name, how many answers, its notes)."""
    async with product.store.sessions() as session:
        attempts = (await session.scalars(select(CallAttempt).where(CallAttempt.wrapped_up_at.is_not(None))
                                          .order_by(CallAttempt.id))).all()
        out = []
        for attempt in attempts:
            lead = await session.get(Lead, attempt.lead_id)
            answers = await session.scalar(select(func.count()).select_from(Answer)
                                           .where(Answer.call_attempt_id == attempt.id))
            notes = (await session.scalars(select(NoteResponse.value)
                                           .where(NoteResponse.call_attempt_id == attempt.id))).all()
            out.append((lead.first_name, answers, list(notes)))
        return out


async def answer_survey(page, vote: str = "Yes", ride: str = "No", note: str = "") -> None:
    await page.get_by_role("group", name="Will you vote? (required)").get_by_label(vote).check()
    await page.get_by_role("group", name="Need a ride? (required)").get_by_label(ride).check()
    if note:
        await page.get_by_label("Anything else?").fill(note)


async def test_a_preview_caller_dials_skips_talks_and_saves_each_lead(product, floor, page):
    numbers = [phone(PERSON), phone(PERSON), phone(PERSON)]
    await working_caller(product, floor, page, DialerMode.PREVIEW, numbers)
    await expect(page.get_by_text("preview campaign")).to_be_visible()

    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_text("Preview: read the lead, then dial or skip.")).to_be_visible()
    await expect(page.locator("#lead-phone")).to_have_text(numbers[0])
    await expect(page.get_by_role("heading", name="Lead0 Voter")).to_be_visible()
    await expect(page.locator("#members")).to_contain_text("Ward7")
    await expect(page.locator("#script-texts strong")).to_have_text("this")  # the script's Markdown

    await page.get_by_role("button", name="Skip").click()
    await expect(page.locator("#lead-phone")).to_have_text(numbers[1])

    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    await expect(page.get_by_role("timer")).to_have_text(re.compile(r"^0:0\d$"))
    # Saving waits for the call to end; the survey can be filled in meanwhile.
    await expect(page.get_by_role("button", name="Save and continue")).to_be_disabled()
    await page.get_by_role("group", name="Will you vote? (required)").get_by_label("Yes").check()
    await page.get_by_role("button", name="Hang up").click()
    await expect(page.get_by_text("Call ended: fill in the survey and save.")).to_be_visible()
    await expect(page.get_by_text("Call ended (you hung up).")).to_be_visible()

    # Required answers: the page will not save without them, and says which is missing.
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("“Need a ride?” has no answer")
    await expect(page.get_by_role("group", name="Need a ride? (required)").get_by_label("Yes")).to_be_focused()
    await page.get_by_role("group", name="Need a ride? (required)").get_by_label("No").check()
    await page.get_by_label("Anything else?").fill("Wants a yard sign")
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.locator("#lead-phone")).to_have_text(numbers[2])
    await expect(page.get_by_role("alert")).to_be_hidden()
    assert await stored_results(product) == [("Lead1", 2, ["Wants a yard sign"])]

    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    await page.get_by_role("button", name="Hang up").click()
    await answer_survey(page, "No", "Yes")
    await page.get_by_role("button", name="Save and stop").click()
    await expect(page.get_by_text("You stopped calling.")).to_be_visible()
    await expect(page.get_by_role("button", name="Start a new session")).to_be_visible()
    assert await stored_results(product) == [("Lead1", 2, ["Wants a yard sign"]), ("Lead2", 2, [])]


async def test_a_power_caller_gets_each_lead_dialled_at_once(product, floor, page):
    numbers = [phone(PERSON), phone(PERSON)]
    await working_caller(product, floor, page, DialerMode.POWER, numbers)
    await page.get_by_role("button", name="Start calling").click()
    for index, number in enumerate(numbers):
        await expect(page.get_by_text("On a call")).to_be_visible()
        await expect(page.locator("#lead-phone")).to_have_text(number)
        await expect(page.get_by_role("button", name="Dial")).to_be_hidden()  # power dials by itself
        await page.get_by_role("button", name="Hang up").click()
        await answer_survey(page, note=f"power {index}")
        await page.get_by_role("button", name="Save and continue").click()
    await expect(page.get_by_text("There are no more leads to call in this campaign.")).to_be_visible()
    assert await stored_results(product) == [("Lead0", 2, ["power 0"]), ("Lead1", 2, ["power 1"])]


async def test_a_predictive_caller_waits_on_hold_and_is_handed_answered_calls(product, floor, page, far_end):
    numbers = [phone(PERSON), phone(PERSON)]
    await working_caller(product, floor, page, DialerMode.PREDICTIVE, numbers)
    await page.get_by_role("button", name="Start calling").click()
    for _ in numbers:
        await expect(page.get_by_text("On a call")).to_be_visible()
        await expect(page.locator("#lead-phone")).to_have_text(re.compile("|".join(re.escape(n) for n in numbers)))
        # The lead in the caller's conference hangs up.
        [lead] = [channel for bridge in await far_end.bridges() if bridge["id"].startswith("conf-")
                  for channel in bridge["channels"] if channel.startswith("lead-")]
        await far_end.hang_up(lead)
        await expect(page.get_by_text("Call ended (the lead hung up).")).to_be_visible()
        await answer_survey(page)
        await page.get_by_role("button", name="Save and continue").click()
        await expect(page.get_by_text("Call ended (the lead hung up).")).to_be_hidden()
    assert sorted(first for first, _, _ in await stored_results(product)) == ["Lead0", "Lead1"]


@pytest.mark.parametrize("kind", ["warm", "cold"])
async def test_a_caller_transfers_a_call_warm_or_cold(product, floor, page, kind):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON)])
    await page.get_by_role("button", name="Start calling").click()
    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    label = "Field office" if kind == "warm" else "Hotline"
    await page.get_by_role("button", name=f"Transfer to {label} ({kind})").click()
    if kind == "warm":
        await expect(page.get_by_text("Transferring the call")).to_be_visible()
        await expect(page.locator("#transfer-status")).to_have_text("Field office (warm): connected")
        await page.get_by_role("button", name="Leave the call").click()
    await expect(page.get_by_text("Call ended: fill in the survey and save.")).to_be_visible()
    await answer_survey(page, note=f"{kind} transfer")
    await page.get_by_role("button", name="Save and stop").click()
    await expect(page.get_by_text("You stopped calling.")).to_be_visible()
    async with product.store.sessions() as session:
        transfer = await session.scalar(select(TransferAttempt))
        assert (transfer.transfer_type, transfer.answered_at is not None) == (kind, True)
    assert await stored_results(product) == [("Lead0", 2, [f"{kind} transfer"])]


async def test_a_warm_transfer_party_can_be_dropped_and_the_caller_talks_on(product, floor, page):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON)])
    await page.get_by_role("button", name="Start calling").click()
    await page.get_by_role("button", name="Dial").click()
    await page.get_by_role("button", name="Transfer to Field office (warm)").click()
    await expect(page.locator("#transfer-status")).to_have_text("Field office (warm): connected")
    await page.get_by_role("button", name="Hang up the transfer").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    await expect(page.get_by_role("button", name="Transfer to Field office (warm)")).to_be_visible()


async def test_a_caller_who_loses_the_network_misses_nothing(product, floor, page, far_end):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON), phone(PERSON)])
    await page.get_by_role("button", name="Start calling").click()
    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()

    await page.context.set_offline(True)
    await expect(page.locator("#connection")).to_have_text("Reconnecting…")
    await expect(page.get_by_text("The connection dropped.")).to_be_visible()
    await expect(page.get_by_role("button", name="Hang up")).to_be_disabled()
    # Meanwhile the lead hangs up: the call ends and the caller is in wrap-up, unseen.
    [lead] = await far_end.channel_ids("lead-")
    await far_end.hang_up(lead)
    await expect(page.get_by_text("On a call")).to_be_visible()

    await page.context.set_offline(False)
    await expect(page.locator("#connection")).to_have_text("Connected", timeout=20_000)
    await expect(page.get_by_text("The connection dropped.")).to_be_hidden()
    await expect(page.get_by_text("Call ended (the lead hung up).")).to_be_visible()
    await expect(page.get_by_text("Call ended: fill in the survey and save.")).to_be_visible()
    await answer_survey(page, note="after the outage")
    await page.get_by_role("button", name="Save and continue").click()
    await expect(page.get_by_text("Preview: read the lead, then dial or skip.")).to_be_visible()
    assert await stored_results(product) == [("Lead0", 2, ["after the outage"])]


async def test_script_and_lead_fields_cannot_inject_markup(product, floor, page):
    number = phone(PERSON)
    async with product.store.transaction() as session:
        script = await session.get(Script, floor.script.id)
        await session.refresh(script, ["texts"])
        script.texts.append(ScriptText(content='**Hi** <img src=x onerror="document.title=\'pwned\'">', position=1))
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [number])
    async with product.store.transaction() as session:
        lead = await session.scalar(select(Lead).join(Household).where(Household.phone == number,
                                                                       Household.campaign_id == campaign))
        lead.first_name = "<b>Bold</b>"
        lead.custom_fields = {"Note": "<script>document.title='pwned'</script>"}
    _, username = await add_caller(product.store, floor, campaign)
    await sign_in(page, product.url, username)
    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_role("heading", name="<b>Bold</b> Voter")).to_be_visible()
    await expect(page.locator("#members")).to_contain_text("<script>document.title='pwned'</script>")
    await expect(page.locator("#script-texts")).to_contain_text('<img src=x onerror="document.title=\'pwned\'">')
    assert await page.locator("#script-texts img, #members b, #members script").count() == 0
    assert await page.title() != "pwned"


async def test_the_caller_app_at_phone_width(product, floor, browser):
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    try:
        numbers = [phone(PERSON), phone(PERSON)]
        await working_caller(product, floor, page, DialerMode.PREVIEW, numbers)
        await page.get_by_role("button", name="Start calling").click()
        await page.get_by_role("button", name="Dial").tap()
        await expect(page.get_by_text("On a call")).to_be_visible()
        await page.get_by_role("button", name="Hang up").tap()
        await answer_survey(page, note="from a phone")
        await page.get_by_role("button", name="Save and continue").tap()
        await expect(page.locator("#lead-phone")).to_have_text(numbers[1])
        # Nothing wider than the screen: no sideways scrolling.
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert await stored_results(product) == [("Lead0", 2, ["from a phone"])]
    finally:
        await context.close()


async def test_the_caller_app_is_usable_from_the_keyboard(product, floor, page):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON)])
    start = page.get_by_role("button", name="Start calling")
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await start.evaluate("b => b === document.activeElement"):
            break
    else:
        raise AssertionError("Start calling cannot be reached with Tab")
    await page.keyboard.press("Enter")
    # Each step leaves the focus on the next thing to do: Dial, Hang up, the survey, Save.
    await expect(page.get_by_role("button", name="Dial")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("On a call")).to_be_visible()
    await expect(page.get_by_role("button", name="Hang up")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Call ended: fill in the survey and save.")).to_be_visible()
    await expect(page.get_by_role("group", name="Will you vote? (required)").get_by_label("Yes")).to_be_focused()
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")  # to the next question
    await page.keyboard.press("Space")
    for _ in range(6):
        if await page.get_by_role("button", name="Save and continue").evaluate("b => b === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("There are no more leads to call in this campaign.")).to_be_visible()
    assert await stored_results(product) == [("Lead0", 2, [])]


async def test_a_caller_without_a_campaign_is_told_why_they_cannot_work(product, floor, page):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)], active=False)
    _, username = await add_caller(product.store, floor, campaign)
    await sign_in(page, product.url, username)
    await expect(page.locator("#connection")).to_have_text("Not connected")
    await expect(page.get_by_text("Your campaign is not active: ask your supervisor.")).to_be_visible()


async def test_a_caller_leaves_the_campaigns_voicemail_and_moves_on(product, floor, page):
    recording = await add_recording(product.store, floor)
    numbers = [phone(PERSON), phone(PERSON)]
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, numbers,
                                  caller_can_drop_voicemail=True, voicemail_recording_id=recording)
    _, username = await add_caller(product.store, floor, campaign)
    await sign_in(page, product.url, username)
    await page.get_by_role("button", name="Start calling").click()
    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    await page.get_by_role("button", name="Leave voicemail").click()
    await expect(page.get_by_text(f"Last call to {numbers[0]}: voicemail left.")).to_be_visible()
    await expect(page.locator("#lead-phone")).to_have_text(numbers[1])


async def test_voicemail_is_offered_only_where_the_campaign_has_a_message(product, floor, page):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON)])
    await page.get_by_role("button", name="Start calling").click()
    await page.get_by_role("button", name="Dial").click()
    await expect(page.get_by_text("On a call")).to_be_visible()
    await expect(page.get_by_role("button", name="Hang up")).to_be_visible()
    await expect(page.get_by_role("button", name="Leave voicemail")).to_be_hidden()  # no message to leave
    await page.get_by_role("button", name="Hang up").click()
    await expect(page.get_by_text("Call ended: fill in the survey and save.")).to_be_visible()


async def test_a_caller_dials_in_with_the_pin_the_page_shows(product, floor, page, far_end):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON)])
    await page.get_by_label("I will dial in with my PIN").check()
    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_text("Waiting for you to dial in.")).to_be_visible()
    await expect(page.locator("#dial-in-number")).to_have_text("+12025550123")
    pin = await page.locator("#dial-in-pin").text_content()
    assert pin and pin.isdigit()
    channel = (await far_end.dial_in())["id"]
    await far_end.dtmf(channel, pin)
    await expect(page.get_by_text("Preview: read the lead, then dial or skip.")).to_be_visible()
    await expect(page.locator("#dial-in")).to_be_hidden()


async def test_a_caller_asks_to_be_called_at_a_number_and_a_bad_one_is_refused(product, floor, page):
    await working_caller(product, floor, page, DialerMode.PREVIEW, [phone(PERSON)])
    await page.get_by_label("Call me at this number").check()
    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_role("alert")).to_have_text("Type the phone number to call you at.")
    await page.get_by_label("Phone number to call you at").fill("not a number")
    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_role("alert")).to_contain_text("Could not start:")
    await expect(page.get_by_role("button", name="Start calling")).to_be_visible()
    await page.get_by_label("Phone number to call you at").fill("+1 202 555 0142")
    await page.get_by_role("button", name="Start calling").click()
    await expect(page.get_by_text("Preview: read the lead, then dial or skip.")).to_be_visible()
