"""Signing in to the pages with the logins `realtime serve` prints for the demo account."""
from __future__ import annotations

import asyncio

import pytest

from realtime import sign_in
from realtime.app_keys import BUS, SESSION_SIGNER
from realtime.sessions import COOKIE_NAME, REVOKED_TOPIC
from tests.api.conftest import basic
from tests.conftest import make_demo_app


@pytest.fixture
async def demo(aiohttp_client, demo_app):
    app, credentials = demo_app
    return await aiohttp_client(app), credentials


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_demo(request, aiohttp_client, tmp_path):
    """The demo on SQLite and on a fresh PostgreSQL database."""
    database_url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    app, credentials = await make_demo_app(tmp_path, database_url=database_url)
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
    for asked, landed in (("/v1", "/v1"), ("https://evil.example/", "/monitor"), ("//evil.example/", "/monitor")):
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
    # Someone else at the same address still gets in.
    assert (await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)).status == 200


async def test_a_call_centre_behind_one_address_is_not_locked_out_by_its_typos(demo):
    client, creds = demo
    # Forty people at one office address each mistype once at nine o'clock...
    statuses = {(await sign_in_json(client, f"agent{n}@office.example", "typo")).status for n in range(40)}
    assert statuses == {401}
    # ...and everyone behind that address still signs in.
    assert (await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)).status == 200
    for username, password in creds.callers:
        assert (await sign_in_json(client, username, password)).status == 200


def test_the_per_address_limit_lets_a_call_centre_through():
    amount, _, period = sign_in.FAILURE_LIMITS["address"].partition("/")
    assert period == "minute" and int(amount) >= 300


async def test_a_flood_of_guesses_from_one_address_is_cut_off(monkeypatch, aiohttp_client, demo_app):
    # The real limit (300 a minute) would take seconds of password hashing to reach here.
    monkeypatch.setitem(sign_in.FAILURE_LIMITS, "address", "25/minute")
    app, creds = demo_app
    client = await aiohttp_client(app)
    statuses = [(await sign_in_json(client, f"guess-{n}@example.com", "x")).status for n in range(26)]
    assert statuses == [401] * 25 + [429]
    response = await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)
    assert response.status == 429 and (await response.json())["error"]["id"] == "too-many-attempts"


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


# -- bad input never answers 500 ----------------------------------------------------------------

async def test_text_that_cannot_be_stored_is_refused_like_a_wrong_password(any_demo):
    client, creds = any_demo
    caller, caller_password = creds.callers[0]
    for bad in ("\ud800", "a\x00b", "\udfff\ud800"):
        for login, password in ((bad, "whatever"), (caller + bad, caller_password), (creds.admin_email, bad)):
            response = await sign_in_json(client, login, password)
            assert response.status == 401, (login, password, await response.text())
            assert (await response.json())["error"]["id"] == "invalid-login"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (b"login=%ED%A0%80&password=x", b"login=%FF%FE&password=x", b"login=a%00b&password=x",
                 b"login=caller1&password=%ED%A0%80", b"login=caller1&password=a%00b", b"\xff\xfe=\xff"):
        response = await client.post("/login", data=body, headers=form)
        assert response.status == 401, (body, await response.text())
        assert 'role="alert"' in await response.text()
    response = await client.post("/login", data=b'{"login": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert response.status == 401
    # The server is unharmed: the right password still works.
    assert (await sign_in_json(client, caller, caller_password)).status == 200


async def test_an_origin_that_is_no_url_is_refused_as_cross_site(demo):
    client, creds = demo
    form = {"login": creds.admin_email, "password": creds.admin_password}
    for origin in ("http://[", "http://[::1", "http://exa mple.com", "http://:99999", "https://[::1]:x"):
        for path in ("/login", "/logout"):
            response = await client.post(path, data=form, headers={"Origin": origin}, allow_redirects=False)
            assert response.status == 403, (origin, path, await response.text())
            assert (await response.json())["error"]["id"] == "cross-site-request"
    assert (await client.get("/session")).status == 401


# A browser strips tabs and newlines from a URL and reads a backslash as a slash, so each of
# these would leave the site after signing in.
ESCAPES = ("/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example", "/\\evil.example",
           "/\x00/evil.example", "/ /evil.example", "/\u3000/evil.example", "/\x0b/evil.example", "/\x7f/evil",
           "/\u200b/evil.example", " //evil.example", "//evil.example", "///evil.example")


async def test_a_next_path_a_browser_would_read_as_another_host_is_not_followed(demo):
    client, creds = demo
    for asked in ESCAPES:
        client.session.cookie_jar.clear()
        response = await client.post("/login", allow_redirects=False, data={
            "login": creds.supervisor_email, "password": creds.supervisor_password, "next": asked})
        assert (response.status, response.headers["Location"]) == (303, "/monitor"), repr(asked)
        page = await client.get("/login", params={"next": asked})
        assert page.status == 200 and 'name="next" value=""' in await page.text(), repr(asked)


async def test_a_next_path_with_other_letters_is_followed_encoded(demo):
    client, creds = demo
    response = await client.post("/login", allow_redirects=False, data={
        "login": creds.supervisor_email, "password": creds.supervisor_password, "next": "/v1/campaigns?name=José"})
    assert (response.status, response.headers["Location"]) == (303, "/v1/campaigns?name=Jos%C3%A9")


# -- pages cannot be framed ---------------------------------------------------------------------

async def test_pages_cannot_be_framed_and_every_answer_carries_the_security_headers(demo):
    client, creds = demo
    static_login = "/static/login.html"
    for path in ("/login", "/", static_login, "/no-such-page"):
        response = await client.get(path)
        assert response.status in (200, 404), path
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), path
    failed = await client.post("/login", data={"login": "nobody", "password": "wrong"})
    assert failed.status == 401 and failed.headers.get("X-Frame-Options") == "DENY"
    for path in ("/login", "/", "/v1", "/session", "/healthz"):
        response = await client.get(path)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
        # sign-in form's POST, which the cross-site check refuses.
        assert response.headers.get("Referrer-Policy") == "same-origin", path


# -- sessions end when they should ------------------------------------------------------------

def session_cookie(client) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == COOKIE_NAME)


async def replay(client, token: str):
    """GET /session presenting ``token``, as someone who kept the cookie would."""
    return await client.get("/session", cookies={COOKIE_NAME: token})


async def test_a_cookie_kept_after_signing_out_no_longer_works(demo):
    client, creds = demo
    await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)
    first = session_cookie(client)
    client.session.cookie_jar.clear()
    await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)  # another browser
    second = session_cookie(client)
    client.session.cookie_jar.clear()
    assert (await replay(client, first)).status == 200

    revoked = asyncio.Queue()
    await client.app[BUS].subscribe(REVOKED_TOPIC, lambda topic, message: revoked.put(message))
    response = await client.post("/logout", cookies={COOKIE_NAME: first}, allow_redirects=False)
    assert response.status == 303
    assert (await replay(client, first)).status == 401
    assert (await replay(client, second)).status == 200  # only that browser signed out
    message = await asyncio.wait_for(revoked.get(), 5)
    person = await (await replay(client, second)).json()
    assert message == {"kind": "user", "person_id": person["id"], "account_id": person["account_id"],
                       "nonce": message["nonce"]} and message["nonce"]


def api_key(creds) -> dict[str, str]:
    return {"Authorization": basic(creds.api_key, creds.api_auth)}


async def api_patch(client, creds, path: str, body: dict):
    return await client.patch(path, json=body, headers=api_key(creds))


async def find_id(client, creds, collection: str, **query) -> int:
    async with client.get(f"/v1/{collection}", params=query, headers=api_key(creds)) as response:
        return (await response.json())["resources"][0]["id"]


@pytest.mark.parametrize("change", [{"password": "a brand new password"}, {"active": False}])
async def test_a_password_change_or_deactivation_ends_a_callers_sessions_at_once(demo, change):
    client, creds = demo
    username, password = creds.callers[0]
    await sign_in_json(client, username, password)
    token = session_cookie(client)
    client.session.cookie_jar.clear()
    caller_id = await find_id(client, creds, "callers", username=username)
    revoked = asyncio.Queue()
    await client.app[BUS].subscribe(REVOKED_TOPIC, lambda topic, message: revoked.put(message))

    response = await api_patch(client, creds, f"/v1/callers/{caller_id}", change)
    assert response.status == 200, await response.text()
    assert (await replay(client, token)).status == 401
    message = await asyncio.wait_for(revoked.get(), 5)
    assert message["kind"] == "caller" and message["person_id"] == caller_id and message["nonce"] is None
    if "password" in change:
        assert (await sign_in_json(client, username, change["password"])).status == 200


async def test_a_password_change_ends_a_users_sessions_and_a_rename_does_not(demo):
    client, creds = demo
    await sign_in_json(client, creds.supervisor_email, creds.supervisor_password)
    token = session_cookie(client)
    client.session.cookie_jar.clear()
    user_id = await find_id(client, creds, "users", email=creds.supervisor_email)

    assert (await api_patch(client, creds, f"/v1/users/{user_id}", {"name": "Sam S."})).status == 200
    assert (await replay(client, token)).status == 200
    assert (await api_patch(client, creds, f"/v1/users/{user_id}", {"password": "another password"})).status == 200
    assert (await replay(client, token)).status == 401


async def test_signing_out_on_one_web_process_ends_the_session_on_the_others(aiohttp_client, tmp_path, redis_url):
    first_app, creds = await make_demo_app(tmp_path, redis_url=redis_url)
    second_app, _ = await make_demo_app(tmp_path, redis_url=redis_url)  # same database and secret
    first, second = await aiohttp_client(first_app), await aiohttp_client(second_app)
    await sign_in_json(first, creds.admin_email, creds.admin_password)
    token = session_cookie(first)
    seen_by_second = await replay(second, token)
    assert seen_by_second.status == 200
    account_id = (await seen_by_second.json())["account_id"]

    nonce = second.app[SESSION_SIGNER].loads(token).nonce
    revoked = asyncio.Queue()

    async def on_revoked(topic, message):
        if message["nonce"] == nonce:  # the shared Redis may carry other tests' news
            await revoked.put(message)

    await second.app[BUS].subscribe(REVOKED_TOPIC, on_revoked)
    assert (await first.post("/logout", allow_redirects=False)).status == 303
    assert (await replay(second, token)).status == 401
    message = await asyncio.wait_for(revoked.get(), 5)
    assert message["kind"] == "user" and message["account_id"] == account_id


async def test_odd_requests_to_the_sign_in_routes_get_an_answer_not_a_500(demo):
    client, creds = demo
    json_type = {"Content-Type": "application/json"}
    multipart = {"Content-Type": "multipart/form-data; boundary=xyz"}
    odd = [
        ("GET", "/login?next=/%ED%A0%80", {}, None),
        ("GET", "/login?next=%00", {}, None),
        ("GET", "/login?next=/%0D%0ASet-Cookie:%20x=1", {}, None),
        ("POST", "/login", json_type, b"[1, 2]"),
        ("POST", "/login", json_type, b'"just a string"'),
        ("POST", "/login", json_type, b'{"login": 5, "password": null, "next": ["/"]}'),
        ("POST", "/login", json_type, b'{"login": "x'),
        ("POST", "/login", multipart, b'--xyz\r\nContent-Disposition: form-data; name="login"\r\n\r\ncaller1'),
        ("POST", "/login", multipart, b"--xyz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--xyz--\r\n"),
        ("POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"login=" + b"a" * 2_000_000),
        ("POST", "/login", {"Origin": "http://evil.example", "Host": "["}, b""),
        ("POST", "/login", {"Origin": "http://127.0.0.1", "Host": "[::1"}, b""),
        ("POST", "/logout", {"Cookie": f"{COOKIE_NAME}=%ED%A0%80"}, None),
        ("POST", "/logout", {"Cookie": f'{COOKIE_NAME}="unterminated'}, None),
        ("GET", "/session", {"Cookie": f"{COOKIE_NAME}=" + "a." * 5000}, None),
        ("GET", "/session", {"Cookie": f"{COOKIE_NAME}=\xe9t\xe9.x".encode().decode("latin-1")}, None),
    ]
    for method, path, headers, body in odd:
        response = await client.request(method, path, headers=headers, data=body, allow_redirects=False)
        assert 200 <= response.status < 500, (method, path, headers, response.status, await response.text())
        if path.startswith("/login?next="):
            assert "Set-Cookie: x" not in await response.text()
    assert (await sign_in_json(client, creds.admin_email, creds.admin_password)).status == 200


async def test_an_exhausted_database_pool_answers_503_and_signing_in_works_again(aiohttp_client, tmp_path):
    from realtime import app_keys

    app, credentials = await make_demo_app(tmp_path, database_pool_size=1, database_pool_timeout=0.2)
    client = await aiohttp_client(app)
    login = {"login": credentials.admin_email, "password": credentials.admin_password}
    held = await app[app_keys.STORE].engine.connect()  # the only connection, busy elsewhere
    try:
        response = await client.post("/login", json=login)
        assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
        assert (await response.json())["error"]["id"] == "server-busy"
    finally:
        await held.close()
    assert (await client.post("/login", json=login)).status == 200
