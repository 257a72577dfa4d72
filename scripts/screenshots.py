"""Screenshots of the caller app and the supervisor console for docs/sdk.md, at desktop and
phone width, written to docs/img/.

    python scripts/screenshots.py [--out docs/img]

It runs what the browser tests run: the product as `realtime serve` builds it, on a
simulator of its own with deterministic far ends, a calling floor seeded in a temporary
SQLite database, and Debian's Chromium through Playwright (set REALTIME_CHROMIUM to use
another). A caller signs in, starts and is put through to a lead; a supervisor watching the
floor listens in. Nothing is left behind but the pictures.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's floor and fixtures, shared rather than copied

from playwright.async_api import async_playwright, expect  # noqa: E402

from realtime.store.models import DialerMode, Script, ScriptText, UserRole  # noqa: E402
from tests.channels.conftest import SIM_PASSWORD, SIM_USER, SPEED, CallerClient, start_product  # noqa: E402
from tests.channels.floor import PERSON, add_caller, add_campaign, add_user, phone, seed_account  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, PHONE, chromium_path, sign_in  # noqa: E402

DESKTOP = {"width": 1280, "height": 860}


async def main(out: Path) -> None:
    from aiohttp import web

    from realtime.telephony.sim.config import SimConfig
    from realtime.telephony.sim.server import RunningSimulator, create_sim_app

    out.mkdir(parents=True, exist_ok=True)
    executable = chromium_path()
    if executable is None:
        raise SystemExit("Chromium is needed (apt-get install chromium), or REALTIME_CHROMIUM")
    with tempfile.TemporaryDirectory() as data_dir:
        sim_app = create_sim_app(SimConfig(user=SIM_USER, password=SIM_PASSWORD, outcomes="deterministic",
                                           speed=SPEED, control=True, seed=7))
        runner = web.AppRunner(sim_app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        simulator = RunningSimulator(sim_app, runner, "127.0.0.1", runner.addresses[0][1])
        product = await start_product(Path(data_dir), simulator)
        others: list[CallerClient] = []
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                try:
                    await take(product, browser, out, others)
                finally:
                    await browser.close()
        finally:
            for client in others:
                await client.close()
            await product.server.close()
            await simulator.close()


async def take(product, browser, out: Path, others: list) -> None:
    floor = await seed_account(product.store, "Riverside Votes")
    async with product.store.transaction() as session:  # a script as campaigns write them
        script = await session.get(Script, floor.script.id)
        await session.refresh(script, ["texts"])
        script.texts[0].content = ("Hi, I'm a volunteer with *Riverside Votes*. Do you have **two minutes**?\n\n"
                                   "Election day is **Tuesday, November 3**. Polls are open 7am to 8pm.")
        script.texts.append(ScriptText(position=1, content=(
            "If they ask where to vote:\n- look it up at [vote.example.org](https://vote.example.org)\n"
            "- or offer the *Field office* transfer")))
    canvass = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON) for _ in range(6)],
                                 name="Get out the vote")
    bank = await add_campaign(product.store, floor, DialerMode.PREDICTIVE, [phone(PERSON) for _ in range(6)],
                              name="Phone bank")
    _, email = await add_user(product.store, floor, UserRole.ADMIN)
    for campaign in (canvass, bank, bank):  # a floor with people on it
        _, username = await add_caller(product.store, floor, campaign)
        client = CallerClient(product.url, username)
        others.append(client)
        await client.open()
    await others[0].ok("start")

    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        _, username = await add_caller(product.store, floor, canvass)
        context = await browser.new_context(viewport=viewport, device_scale_factor=1)
        page = await context.new_page()
        await sign_in(page, product.url, username)
        await page.get_by_role("button", name="Start calling").click()
        await page.get_by_role("button", name="Dial").click()
        await expect(page.get_by_text("On a call")).to_be_visible()
        await page.get_by_role("group", name="Will you vote? (required)").get_by_label("Yes").check()
        await page.get_by_label("Anything else?").fill("Would like a yard sign.")
        await page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
        await page.screenshot(path=out / f"caller-{label}.png", full_page=True)

        console_context = await browser.new_context(viewport=viewport, device_scale_factor=1)
        console = await console_context.new_page()
        await sign_in(console, product.url, email)
        name = (await page.locator("#who").text_content()).strip()
        await console.get_by_role("button", name=f"Listen {name}").click()
        await expect(console.get_by_text(f"You are listening with {name}")).to_be_visible()
        await console.screenshot(path=out / f"monitor-{label}.png", full_page=True)
        await page.get_by_role("button", name="Hang up").click()
        await context.close()
        await console_context.close()
    print(f"screenshots written to {out}: {', '.join(sorted(p.name for p in out.glob('*.png')))}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    asyncio.run(main(parser.parse_args().out))
