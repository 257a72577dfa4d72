"""Real browsers: Playwright driving the system's Chromium against a served application."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import service_missing


# No sandbox (tests may run as root); nothing that phones home, which a closed network
# answers with refused connections and slow starts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("REALTIME_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser():
    executable = chromium_path()
    if executable is None:
        service_missing("Chromium (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        service_missing("Playwright (pip install -e '.[test]')")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(15_000)
    yield page
    await context.close()


# The live product (the app as `realtime serve` builds it, on a simulator of the test's own)
# and a calling floor to seed, as the /caller tests have them.
from tests.channels.conftest import callers, far_end, floor, product, simulator  # noqa: E402,F401
from tests.channels.floor import PASSWORD  # noqa: E402

PHONE = {"width": 375, "height": 740}  # a phone held upright (iPhone SE-sized)


async def sign_in(page, base: str, login: str, password: str = PASSWORD) -> None:
    """Through the sign-in page, as a person does; lands on their application."""
    await page.goto(base + "/login")
    await page.get_by_label("Email or caller username").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
