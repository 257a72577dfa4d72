"""Browsing /v1 from a browser: a signed-in admin or supervisor reads with the session cookie,
gets a page with clickable links when the browser asks for HTML, and never writes with it."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select
from yarl import URL

from realtime.api.browsable import render_page, wants_html
from realtime.app_keys import STORE
from realtime.sessions import COOKIE_NAME
from realtime.store.accounts import create_account
from realtime.store.models import Campaign, DialerMode
from tests.api.conftest import basic

# What Chromium sends when the address bar opens a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"}


@pytest.fixture
async def demo(aiohttp_client, demo_app):
    app, credentials = demo_app
    return await aiohttp_client(app), credentials


async def sign_in(client, login: str, password: str) -> str:
    client.session.cookie_jar.clear()
    response = await client.post("/login", json={"login": login, "password": password})
    assert response.status == 200, await response.text()
    return next(c.value for c in client.session.cookie_jar if c.key == COOKIE_NAME)


def local(uri: str) -> str:
    """The test client takes paths: the part of an absolute URI after its origin."""
    return URL(uri).path_qs


def key(creds) -> dict[str, str]:
    return {"Authorization": basic(creds.api_key, creds.api_auth)}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])

    def handle_data(self, data):
        self.texts.append(data)


def links(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


async def test_a_signed_in_admin_or_supervisor_reads_the_api_with_the_cookie(demo):
    client, creds = demo
    for login, password in ((creds.admin_email, creds.admin_password),
                            (creds.supervisor_email, creds.supervisor_password)):
        await sign_in(client, login, password)
        response = await client.get("/v1/campaigns")
        assert response.status == 200 and response.content_type == "application/json"
        assert "X-RateLimit-Limit" in response.headers
        body = await response.json()
        assert {c["name"] for c in body["resources"]} == {"Get out the vote",
                                                           "Volunteer follow-up"}
        item = await client.get(local(body["resources"][0]["uri"]))
        assert item.status == 200 and (await item.json())["id"] == body["resources"][0]["id"]
        head = await client.head("/v1/campaigns")
        assert head.status == 200 and await head.read() == b""


async def test_the_cookie_reads_its_own_account_only(demo):
    client, creds = demo
    async with client.app[STORE].transaction() as session:
        other = await create_account(session, "Someone else")
        theirs = Campaign(account_id=other.account.id, name="Theirs", dialer_mode=DialerMode.POWER)
        session.add(theirs)
    await sign_in(client, creds.admin_email, creds.admin_password)
    assert (await client.get(f"/v1/campaigns/{theirs.id}")).status == 404
    names = [c["name"] for c in (await (await client.get("/v1/campaigns")).json())["resources"]]
    assert "Theirs" not in names


async def test_nobody_a_caller_or_a_signed_out_cookie_cannot_read(demo):
    client, creds = demo
    response = await client.get("/v1/campaigns")
    assert response.status == 401 and (await response.json())["error"]["id"] == "unauthorized"
    await sign_in(client, *creds.callers[0])
    assert (await client.get("/v1/campaigns")).status == 401  # callers do not browse the account
    token = await sign_in(client, creds.supervisor_email, creds.supervisor_password)
    assert (await client.post("/logout", allow_redirects=False)).status == 303
    assert (await client.get("/v1/campaigns", cookies={COOKIE_NAME: token})).status == 401
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await client.get("/v1/campaigns", cookies={COOKIE_NAME: forged})).status == 401


async def campaign_count(client) -> int:
    async with client.app[STORE].sessions() as session:
        return await session.scalar(select(func.count()).select_from(Campaign))


async def test_writes_with_only_the_cookie_are_refused_and_change_nothing(demo):
    client, creds = demo
    await sign_in(client, creds.admin_email, creds.admin_password)
    before = await campaign_count(client)
    campaign_id = (await (await client.get("/v1/campaigns")).json())["resources"][0]["id"]
    for method, path, body in (("POST", "/v1/campaigns", {"name": "Sneaky", "dialer_mode": "power"}),
                               ("PATCH", f"/v1/campaigns/{campaign_id}", {"name": "Renamed"}),
                               ("DELETE", f"/v1/campaigns/{campaign_id}", None)):
        response = await client.request(method, path, json=body)
        assert response.status == 403, (method, await response.text())
        assert (await response.json())["error"]["id"] == "read-only-session"
    assert await campaign_count(client) == before
    assert (await (await client.get(f"/v1/campaigns/{campaign_id}")).json())["name"] != "Renamed"
    # The API key still writes, cookie or not.
    response = await client.post("/v1/campaigns", json={"name": "Made with the key", "dialer_mode": "power"},
                                 headers=key(creds))
    assert response.status == 201


async def test_a_browser_gets_a_page_whose_links_it_can_follow(demo):
    client, creds = demo
    await sign_in(client, creds.supervisor_email, creds.supervisor_password)
    response = await client.get("/v1/campaigns", params={"limit": "1"}, headers=BROWSER)
    assert response.status == 200 and response.content_type == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = await response.text()
    body = await (await client.get("/v1/campaigns", params={"limit": "1"})).json()
    found = links(page)
    base = f"http://{client.server.host}:{client.server.port}"
    for uri in (body["resources"][0]["uri"], body["next_page"], body["last_page"], body["uri"]):
        assert uri in found.hrefs, uri
    assert all(href.startswith((base + "/v1", "/v1", "/login", "/")) for href in found.hrefs), found.hrefs
    # The same JSON, pretty-printed.
    assert '"name": "Get out the vote"' in "".join(found.texts)
    for href in found.hrefs:
        if href.startswith(base + "/v1"):
            followed = await client.get(local(href), headers=BROWSER)
            assert followed.status == 200 and followed.content_type == "text/html", href


async def test_the_page_never_carries_the_api_credentials(demo):
    client, creds = demo
    response = await client.get("/v1/campaigns", headers=BROWSER, params={
        "api_key": creds.api_key, "api_auth": creds.api_auth, "limit": "1"})
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert links(page).hrefs, "no links on the page"
    assert creds.api_key not in page and creds.api_auth not in page


async def test_text_from_the_data_is_shown_not_run(demo):
    client, creds = demo
    name = '<script>alert(1)</script>"><a href="https://evil.example/">x</a>'
    created = await client.post("/v1/campaigns", json={"name": name, "dialer_mode": "power"}, headers=key(creds))
    assert created.status == 201
    await sign_in(client, creds.admin_email, creds.admin_password)
    page = await (await client.get(local((await created.json())["uri"]), headers=BROWSER)).text()
    assert "<script>alert" not in page and "evil.example" not in links(page).hrefs
    assert json.dumps(name) in "".join(links(page).texts)  # shown as text, exactly


async def test_programs_still_get_json(demo):
    client, creds = demo
    await sign_in(client, creds.admin_email, creds.admin_password)
    for accept in ("*/*", "application/json", "application/json, text/html;q=0.5", None):
        headers = {"Accept": accept} if accept else {}
        response = await client.get("/v1/campaigns", headers=headers)
        assert response.content_type == "application/json", accept


async def test_an_error_is_a_page_too_with_a_way_to_sign_in(demo):
    client, _ = demo
    response = await client.get("/v1/campaigns", headers=BROWSER, params={"active": "true"})
    assert response.status == 401 and response.content_type == "text/html"
    page = await response.text()
    assert "/login?next=/v1/campaigns%3Factive%3Dtrue" in links(page).hrefs
    assert "unauthorized" in page


def test_only_this_sites_addresses_become_links():
    page = render_page({"uri": "http://api.example/v1/campaigns/3",
                        "webhook_url": "https://evil.example/hook",
                        "other": "http://api.example.evil.example/v1",
                        "page": "http://api.example/v1/leads?page=2&api_key=ak_x&api_auth=secret"},
                       status=200, origin="http://api.example", path="/v1/campaigns/3")
    hrefs = links(page).hrefs
    assert "http://api.example/v1/campaigns/3" in hrefs
    assert not any("evil" in href for href in hrefs)
    assert "ak_x" not in page and "secret" not in page
    assert "http://api.example/v1/leads?page=2" in hrefs


def test_only_a_browser_asking_for_html_gets_it():
    assert wants_html(BROWSER["Accept"])
    assert wants_html("text/html")
    for accept in ("", "*/*", "application/json", "application/json;q=1, text/html;q=0.9", "text/html;q=0",
                   "text/*;q=0.5, application/json", "garbage;;q=x"):
        assert not wants_html(accept), accept
