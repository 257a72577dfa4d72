"""The demo admin browses /v1 in Chromium by clicking links, signed in with the session cookie."""
from __future__ import annotations

import json

import pytest
from playwright.async_api import expect


@pytest.fixture
async def site(aiohttp_server, demo_app):
    app, credentials = demo_app
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}", credentials


def json_link(page, uri: str):
    """The link showing ``uri`` in the pretty-printed JSON (shown with its quotes)."""
    return page.get_by_role("link", name=f'"{uri}"', exact=True)


async def test_the_demo_admin_signs_in_and_browses_the_api_by_clicking(site, page):
    base, creds = site
    await page.goto(base + "/v1/campaigns")
    await expect(page.get_by_text("401 Unauthorized")).to_be_visible()
    await page.get_by_role("link", name="Sign in").click()

    await page.get_by_label("Email or caller username").fill(creds.admin_email)
    await page.get_by_label("Password").fill(creds.admin_password)
    await page.get_by_role("button", name="Sign in").click()

    # Back where the admin was going, now readable.
    await expect(page).to_have_url(base + "/v1/campaigns")
    await expect(page.get_by_text("200 OK")).to_be_visible()
    await expect(page.locator("pre")).to_contain_text('"name": "Get out the vote"')

    await json_link(page, base + "/v1/campaigns/1").first.click()
    await expect(page).to_have_url(base + "/v1/campaigns/1")
    await expect(page.locator("pre")).to_contain_text('"dialer_mode": "predictive"')

    await page.locator("nav").get_by_role("link", name="v1", exact=True).click()
    await expect(page).to_have_url(base + "/v1")
    await json_link(page, base + "/v1/leads").click()
    await expect(page.locator("pre")).to_contain_text('"total": 340')
    # Leads page by key: the next page's address is whatever next_page says.
    shown = json.loads(await page.locator("pre").inner_text())
    await json_link(page, shown["next_page"]).click()
    await expect(page).to_have_url(shown["next_page"])
    following = json.loads(await page.locator("pre").inner_text())
    assert following["prev_page"] and following["resources"][0]["id"] > shown["resources"][-1]["id"]
    hrefs = await page.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs and not any("api_key" in href or "api_auth" in href for href in hrefs)


async def test_a_signed_in_browser_cannot_write_with_its_cookie(site, page):
    base, creds = site
    await page.goto(base + "/login")
    await page.get_by_label("Email or caller username").fill(creds.admin_email)
    await page.get_by_label("Password").fill(creds.admin_password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(base + "/monitor")

    # A script on this very site, cookie attached, asks to create a campaign: refused.
    answer = await page.evaluate("""async () => {
        const response = await fetch('/v1/campaigns', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                       body: JSON.stringify({name: 'Sneaky', dialer_mode: 'power'})});
        return [response.status, (await response.json()).error.id];
    }""")
    assert answer == [403, "read-only-session"]
    listed = await page.evaluate("fetch('/v1/campaigns').then(r => r.json())")
    assert "Sneaky" not in [campaign["name"] for campaign in listed["resources"]]


async def test_another_site_cannot_frame_the_sign_in_page(site, page):
    base, _ = site
    # Another page (here about:blank) framing ours; set_content returns once the page and its
    # frame have loaded, or failed to.
    await page.set_content(f'<iframe id="victim" src="{base}/login"></iframe>')
    assert len(page.frames) == 2
    await expect(page.frame_locator("#victim").get_by_label("Password")).to_have_count(0)
