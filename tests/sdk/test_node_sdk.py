"""The browser SDK's own tests (sdk/test/, node's test runner), run from the suite: the unit
tests (numbering, state, Markdown, errors) and the live ones against this product, served on
an ARI simulator with a caller and a supervisor to sign in as."""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from realtime.store.models import DialerMode, UserRole
from tests.channels.floor import PASSWORD, PERSON, add_caller, add_campaign, add_user, phone
from tests.conftest import service_missing

SDK = Path(__file__).resolve().parents[2] / "sdk"


async def run_node_tests(env: dict[str, str]) -> tuple[int, str]:
    node = shutil.which("node")
    if node is None:
        service_missing("node (apt-get install nodejs npm)")
    if not (SDK / "node_modules" / "socket.io-client").is_dir():
        service_missing("sdk/node_modules (pip install -e . runs npm ci)")
    # Run beside the server in this event loop: a blocking subprocess would stop it answering.
    process = await asyncio.create_subprocess_exec(
        # --test-force-exit: a test that failed with a socket still open ends the run all the same.
        node, "--test", "--test-force-exit", "--test-reporter=spec", "test/", cwd=SDK, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 100)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        return -1, output.decode(errors="replace") + "\n(node's tests did not finish in 100 s)"
    return process.returncode, output.decode(errors="replace")


async def test_the_sdk_tests_pass_against_the_live_server(product, floor):
    campaign = await add_campaign(product.store, floor, DialerMode.PREVIEW, [phone(PERSON) for _ in range(3)])
    _, username = await add_caller(product.store, floor, campaign)
    _, email = await add_user(product.store, floor, UserRole.SUPERVISOR)
    code, output = await run_node_tests({"IMPACTDIALER_URL": product.url, "IMPACTDIALER_USERNAME": username,
                                         "IMPACTDIALER_SUPERVISOR_EMAIL": email, "IMPACTDIALER_PASSWORD": PASSWORD})
    print(output)
    assert code == 0, output
    assert "# skipped 0" in output.replace("ℹ skipped 0", "# skipped 0"), output
