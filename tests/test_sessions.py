import time

from aiohttp import web

from realtime.sessions import (
    COOKIE_NAME,
    SessionSigner,
    identity_from_cookie_header,
    identity_from_request,
    set_session_cookie,
)

signer = SessionSigner("s" * 32, max_age=60)


def test_a_signed_identity_reads_back():
    identity, token = signer.issue("caller", 7, account_id=3)
    assert signer.loads(token) == identity
    assert identity.kind == "caller" and identity.id == 7 and identity.account_id == 3


def test_a_tampered_cookie_is_refused():
    _, token = signer.issue("user", 1, account_id=1, role="supervisor")
    payload, signature = token.split(".")
    forged = signer.dumps(signer.loads(token).__class__(kind="user", id=1, account_id=2, role="admin"))
    assert signer.loads(forged.split(".")[0] + "." + signature) is None
    assert signer.loads(payload + "." + signature[:-2] + "AA") is None
    assert signer.loads("garbage") is None and signer.loads("") is None


def test_another_servers_key_does_not_verify():
    _, token = signer.issue("caller", 1, account_id=1)
    assert SessionSigner("t" * 32).loads(token) is None


def test_an_expired_cookie_is_refused():
    _, token = signer.issue("caller", 1, account_id=1)
    assert signer.loads(token, now=time.time() + 61) is None


async def test_cookie_is_httponly_and_samesite_and_authorises_requests(aiohttp_client):
    async def login(request):
        _, token = signer.issue("caller", 5, account_id=9)
        response = web.json_response({"ok": True})
        set_session_cookie(response, request, token, signer.max_age)
        return response

    async def whoami(request):
        identity = identity_from_request(request, signer)
        return web.json_response({"id": identity.id if identity else None})

    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_get("/me", whoami)
    client = await aiohttp_client(app)

    response = await client.post("/login")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert (await (await client.get("/me")).json()) == {"id": 5}
    assert identity_from_cookie_header(f"other=1; {header.split(';')[0]}", signer).id == 5
    assert identity_from_cookie_header(f"{COOKIE_NAME}=x.y", signer) is None
