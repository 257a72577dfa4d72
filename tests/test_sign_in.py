"""Signing in to the pages with the logins `realtime serve` prints for the demo account."""
from __future__ import annotations

import pytest

from realtime.sessions import COOKIE_NAME


@pytest.fixture
async def demo(aiohttp_client, demo_app):
    app, credentials = demo_app
    return await aiohttp_client(app), credentials


async def sign_in_json(client, login: str, password: str):
    return await client.post("/login", json={"login": login, "password": password})


async def test_each_printed_login_signs_in_as_that_person(demo):
    client, creds = demo
    people = [(creds.admin_email, creds.admin_password, "admin"),
              (creds.supervisor_email, creds.supervisor_password, "supervisor"),
              *((username, password, "caller") for username, password in creds.callers)]
    for login, password, role in people:
        client.session.cookie_jar.clear()
        response = await sign_in_json(client, login, password)
        assert response.status == 200, await response.text()
        assert (await response.json())["person"]["role"] == role
        me = await client.get("/session")
        assert me.status == 200 and (await me.json())["role"] == role


async def test_the_session_cookie_is_httponly_and_samesite(demo):
    client, creds = demo
    response = await sign_in_json(client, creds.admin_email.upper(), creds.admin_password)
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"


async def test_a_wrong_password_or_unknown_name_is_refused_alike(demo):
    client, creds = demo
    for login, password in ((creds.admin_email, "wrong"), ("nobody@example.com", "wrong"), ("caller1", ""),
                            ("ghost", creds.admin_password)):
        response = await sign_in_json(client, login, password)
        assert response.status == 401
        assert (await response.json())["error"]["id"] == "invalid-login"
    assert COOKIE_NAME not in {c.key for c in client.session.cookie_jar}
    assert (await client.get("/session")).status == 401


async def test_the_form_redirects_home_or_shows_the_page_again_with_the_reason(demo):
    client, creds = demo
    refused = await client.post("/login", data={"login": "caller1", "password": "nope"})
    page = await refused.text()
    assert refused.status == 401
    assert 'role="alert"' in page and "do not match" in page and 'value="caller1"' in page

    # Only a path on this site is followed after signing in.
    for asked, landed in (("/v1", "/v1"), ("https://evil.example/", "/"), ("//evil.example/", "/")):
        client.session.cookie_jar.clear()
        response = await client.post("/login", allow_redirects=False, data={
            "login": creds.supervisor_email, "password": creds.supervisor_password, "next": asked})
        assert (response.status, response.headers["Location"]) == (303, landed)


async def test_signing_out_ends_the_session(demo):
    client, creds = demo
    await sign_in_json(client, creds.callers[0][0], creds.callers[0][1])
    assert (await client.get("/session")).status == 200
    response = await client.post("/logout", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/login")
    assert (await client.get("/session")).status == 401


async def test_guessing_is_cut_off_after_ten_failures_a_minute(demo):
    client, creds = demo
    statuses = [(await sign_in_json(client, creds.admin_email, f"guess-{n}")).status for n in range(11)]
    assert statuses == [401] * 10 + [429]
    response = await sign_in_json(client, creds.admin_email, creds.admin_password)
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["id"] == "too-many-attempts"
    # Someone else at the same address still gets in; guessing names is cut off too.
    assert (await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)).status == 200
    statuses = [(await sign_in_json(client, f"guess-{n}@example.com", "x")).status for n in range(21)]
    assert statuses == [401] * 20 + [429]


async def test_a_whole_floor_behind_one_address_signs_in_at_once(demo):
    client, creds = demo
    for _ in range(4):
        for username, password in creds.callers:
            assert (await sign_in_json(client, username, password)).status == 200


async def test_a_phones_only_caller_cannot_sign_in_to_the_pages(demo):
    client, creds = demo
    response = await sign_in_json(client, "caller4", creds.phones_only_pin)
    assert response.status == 401


async def test_a_form_posted_from_another_site_is_refused(demo):
    client, creds = demo
    form = {"login": creds.admin_email, "password": creds.admin_password}
    response = await client.post("/login", data=form, headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "cross-site-request"
    assert (await client.get("/session")).status == 401
    same_site = f"http://{client.server.host}:{client.server.port}"
    response = await client.post("/login", data=form, headers={"Origin": same_site}, allow_redirects=False)
    assert response.status == 303


async def test_a_deactivated_person_is_signed_out_at_once(demo):
    from sqlalchemy import update

    from realtime.app_keys import STORE
    from realtime.store.models import User

    client, creds = demo
    await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)
    assert (await client.get("/session")).status == 200
    async with client.app[STORE].transaction() as session:
        await session.execute(update(User).where(User.email == creds.supervisor_email).values(active=False))
    assert (await client.get("/session")).status == 401  # the signed cookie alone is not enough
    assert (await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)).status == 401
