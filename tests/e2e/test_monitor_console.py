"""A supervisor watches the floor in the console (/monitor), in Chromium, while a caller works
in the caller app: listen, coach, barge, reassign and kick, and what each page shows."""
from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import select

from realtime.store.models import Account, DialerMode, UserRole
from tests.channels.floor import PERSON, add_caller, add_campaign, add_user, phone

from .conftest import PHONE, sign_in


async def open_page(browser, viewport=None):
    context = await browser.new_context(viewport=viewport) if viewport else await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page


async def test_a_supervisor_watches_switches_modes_reassigns_and_kicks_a_caller(product, floor, browser, callers):
    first = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON) for _ in range(3)],
                               name="Ward 7 canvass")
    second = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON) for _ in range(3)],
                                name="Phone bank")
    _, username = await add_caller(product.store, floor, first)
    _, other = await add_caller(product.store, floor, second)
    await callers(other).open()  # someone works the other campaign, so it is on the floor
    _, email = await add_user(product.store, floor, UserRole.SUPERVISOR)

    caller = await open_page(browser)
    await sign_in(caller, product.url, username)
    await caller.get_by_role("button", name="Start calling").click()
    await expect(caller.get_by_text("Preview: read the lead, then dial or skip.")).to_be_visible()
    name = (await caller.locator("#who").text_content()).strip()

    console = await open_page(browser)
    await sign_in(console, product.url, email)
    await expect(console).to_have_url(product.url + "/monitor")
    await expect(console.locator("#connection")).to_have_text("Live")
    row = console.get_by_role("row", name=re.compile(name))
    await expect(row).to_contain_text("Ward 7 canvass")
    await expect(row).to_contain_text("Previewing")
    tile = console.get_by_role("article", name="Campaign Ward 7 canvass")
    await expect(tile).to_contain_text("1 previewing")

    # The caller dials: the console follows, pushed.
    await caller.get_by_role("button", name="Dial").click()
    await expect(row).to_contain_text("On a call")
    lead = await caller.locator("#lead-phone").text_content()
    await expect(row).to_contain_text(lead)
    await expect(row.locator("td.timer")).to_have_text(re.compile(r"^0:0\d$"))

    await console.get_by_role("button", name=f"Listen {name}").click()
    await expect(console.get_by_text(f"You are listening with {name} (listen).")).to_be_visible()
    await expect(row).to_contain_text("(listen)")
    await console.get_by_role("button", name=f"Coach {name}").click()
    await expect(console.get_by_text(f"You are coaching with {name} (coach).")).to_be_visible()
    await expect(console.get_by_role("button", name=f"Coach {name}")).to_have_attribute("aria-pressed", "true")
    await console.get_by_role("button", name=f"Barge {name}").click()
    await expect(row).to_contain_text("(barge)")
    await console.get_by_role("button", name="Stop listening").click()
    await expect(console.get_by_text("You are not listening to anyone.")).to_be_visible()

    # Reassign, picked from the campaigns on the floor: the caller's page says so.
    await console.get_by_role("button", name=f"Reassign {name}").click()
    await console.get_by_label("Move to campaign").select_option(label="Phone bank (preview)")
    await console.get_by_role("button", name="Move").click()
    await expect(console.get_by_text(f"{name} moves to Phone bank after the call under way.")).to_be_visible()
    # The move waits for the call under way to end.
    await caller.get_by_role("button", name="Hang up").click()
    await caller.get_by_role("group", name="Will you vote? (required)").get_by_label("Yes").check()
    await caller.get_by_role("group", name="Need a ride? (required)").get_by_label("No").check()
    await caller.get_by_role("button", name="Save and continue").click()
    await expect(caller.get_by_text("You were moved to the campaign Phone bank")).to_be_visible()
    await expect(caller.locator("#campaign-name")).to_have_text("Phone bank")
    await expect(row).to_contain_text("Phone bank")

    # Kick, after a confirmation: a cancelled one does nothing.
    await console.get_by_role("button", name=f"Kick {name}").click()
    await expect(console.get_by_role("dialog")).to_contain_text(f"Kick {name}?")
    await console.get_by_role("button", name="Cancel").click()
    await expect(row).to_be_visible()
    await console.get_by_role("button", name=f"Kick {name}").click()
    await console.get_by_role("dialog").get_by_role("button", name="Kick").click()
    await expect(caller.get_by_text("A supervisor ended your session.")).to_be_visible()
    await expect(caller.get_by_role("link", name="Sign in again")).to_be_visible()
    await expect(caller.get_by_role("button", name="Start a new session")).to_be_hidden()
    await expect(row).to_be_hidden()
    await caller.context.close()
    await console.context.close()


async def test_an_admin_switches_recording_and_a_supervisor_cannot(product, floor, browser, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    await callers(username).open()
    _, admin = await add_user(product.store, floor, UserRole.ADMIN)
    _, supervisor = await add_user(product.store, floor, UserRole.SUPERVISOR)

    page = await open_page(browser)
    await sign_in(page, product.url, admin)
    switch = page.get_by_role("switch", name=re.compile("Record calls"))
    await expect(switch).not_to_be_checked()
    await expect(page.get_by_text("Calls are not recorded.")).to_be_visible()
    await switch.check()
    await expect(page.get_by_text("Calls are recorded.")).to_be_visible()
    async with product.store.sessions() as session:
        assert await session.scalar(select(Account.record_calls).where(Account.id == floor.account_id)) is True
    await page.context.close()

    page = await open_page(browser)
    await sign_in(page, product.url, supervisor)
    await expect(page.locator("#connection")).to_have_text("Live")
    await expect(page.get_by_role("switch")).to_be_hidden()
    await page.context.close()


async def test_the_console_is_brought_up_to_date_right_after_a_reconnect(product, floor, browser, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON) for _ in range(2)])
    _, username = await add_caller(product.store, floor, campaign)
    worker = await callers(username).open()
    _, email = await add_user(product.store, floor, UserRole.SUPERVISOR)
    page = await open_page(browser)
    await sign_in(page, product.url, email)
    row = page.get_by_role("row", name=re.compile(f"Caller {username.removeprefix('caller')}"))
    await expect(row).to_contain_text("Ready")

    await page.context.set_offline(True)
    await expect(page.locator("#connection")).to_have_text("Reconnecting…")
    await worker.ok("start")
    await worker.state("previewing")
    await expect(row).to_contain_text("Ready")  # nothing can reach it

    await page.context.set_offline(False)
    await expect(page.locator("#connection")).to_have_text("Live", timeout=20_000)
    await expect(row).to_contain_text("Previewing")
    await page.context.close()


async def test_the_console_at_phone_width(product, floor, browser, callers):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    await callers(username).open()
    _, email = await add_user(product.store, floor, UserRole.SUPERVISOR)
    page = await open_page(browser, PHONE)
    await sign_in(page, product.url, email)
    await expect(page.locator("#caller-rows tr")).to_have_count(1)
    # The page itself never scrolls sideways; the table scrolls in its own box.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.context.close()


async def test_a_caller_is_sent_to_their_app_and_a_supervisor_to_the_console(product, floor, page):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    await page.goto(product.url + "/monitor")
    await expect(page).to_have_url(product.url + "/login?next=/monitor")
    await sign_in(page, product.url, username)
    await page.goto(product.url + "/monitor")
    await expect(page).to_have_url(product.url + "/caller")
