"""A person signs in with the printed demo logins in Chromium and sees who they are."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import expect


@pytest.fixture
async def site(aiohttp_server, demo_app):
    app, credentials = demo_app
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}", credentials


async def test_a_supervisor_signs_in_sees_their_name_and_signs_out(site, page):
    base, creds = site
    await page.goto(base + "/")
    await expect(page.get_by_text("You are not signed in.")).to_be_visible()
    await page.get_by_role("link", name="Sign in").click()

    await page.get_by_label("Email or caller username").fill(creds.supervisor_email)
    await page.get_by_label("Password").fill(creds.supervisor_password)
    await page.get_by_role("button", name="Sign in").click()

    await expect(page).to_have_url(base + "/monitor")  # supervisors land in the console
    await page.goto(base + "/")
    await expect(page.locator("#signed-in")).to_contain_text(re.compile(r"Signed in as .+ \(supervisor\)"))
    await expect(page.get_by_text("You are not signed in.")).to_be_hidden()
    await page.get_by_role("link", name="Open the supervisor console").click()
    await expect(page).to_have_url(base + "/monitor")
    await page.goto(base + "/")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(base + "/login")


async def test_a_caller_who_mistypes_is_told_and_keeps_what_they_typed(site, page):
    base, creds = site
    username, password = creds.callers[0]
    await page.goto(base + "/login")
    await page.get_by_label("Email or caller username").fill(username)
    await page.get_by_label("Password").fill(password + "x")
    await page.get_by_role("button", name="Sign in").click()

    await expect(page.get_by_role("alert")).to_have_text("That email or username and password do not match.")
    await expect(page.get_by_label("Email or caller username")).to_have_value(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(base + "/caller")  # callers land in the caller app
    await page.goto(base + "/")
    await expect(page.locator("#signed-in")).to_contain_text("(caller)")
