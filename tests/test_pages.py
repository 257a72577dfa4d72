"""/caller and /monitor: whose page is whose, the SDK served from the repository and from
where npm put socket.io-client, and a page policy that lets only this site's scripts run."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest

from realtime.pages import IMPORT_MAP


@pytest.fixture
async def demo(aiohttp_client, demo_app):
    app, credentials = demo_app
    return await aiohttp_client(app), credentials


async def test_signed_out_people_are_sent_to_sign_in_and_back(demo):
    client, _ = demo
    for path in ("/caller", "/monitor"):
        response = await client.get(path, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, f"/login?next={path}")
        client.session.cookie_jar.update_cookies({"realtime_session": "forged.cookie"})
        response = await client.get(path, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, f"/login?next={path}")
        client.session.cookie_jar.clear()


async def test_each_person_lands_on_their_own_page(demo):
    client, creds = demo
    username, password = creds.callers[0]
    for login, secret, home, other in ((username, password, "/caller", "/monitor"),
                                       (creds.supervisor_email, creds.supervisor_password, "/monitor", "/caller"),
                                       (creds.admin_email, creds.admin_password, "/monitor", "/caller")):
        client.session.cookie_jar.clear()
        response = await client.post("/login", data={"login": login, "password": secret}, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, home)
        page = await client.get(home)
        assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
        assert '<script type="importmap">' in await page.text()
        response = await client.get(other, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (303, home)


async def test_only_this_sites_scripts_and_the_import_map_may_run(demo):
    client, creds = demo
    await client.post("/login", data={"login": creds.supervisor_email, "password": creds.supervisor_password})
    page = await client.get("/monitor")
    policy = page.headers["Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", await page.text(), re.S)
    inline = [body for attributes, body in scripts if "src=" not in attributes]
    assert inline == [IMPORT_MAP]


async def test_the_sdk_and_socket_io_client_are_served_from_the_checkout(demo):
    client, _ = demo
    for path in ("/sdk/index.js", "/sdk/caller.js", "/sdk/supervisor.js", "/sdk/markdown.js",
                 "/sdk/vendor/socket.io-client/socket.io.esm.min.js", "/static/caller.js", "/static/monitor.js",
                 "/static/connection-banner.js"):
        response = await client.get(path)
        assert response.status == 200, path
        assert response.content_type in ("application/javascript", "text/javascript"), (path, response.content_type)
    # Nothing else of the checkout: not the lockfile, not what is beside the SDK's sources.
    for path in ("/sdk/../package.json", "/sdk/%2e%2e/package-lock.json", "/sdk/vendor/socket.io-client/../package.json",
                 "/sdk/vendor/engine.io-client/package.json"):
        assert (await client.get(path)).status in (403, 404), path
