"""Cookie sessions: signed, expiring, and live only while recorded and the person active."""
import asyncio
import time
import uuid

import pytest
from aiohttp import web
from sqlalchemy import update

from realtime.bus import MemoryBus
from realtime.sessions import (
    COOKIE_NAME,
    REVOKED_TOPIC,
    SessionSigner,
    identity_from_cookie_header,
    identity_from_request,
    live_identity,
    live_identity_from_cookie_header,
    live_identity_from_request,
    revoke,
    set_session_cookie,
    start_session,
)
from realtime.store.accounts import create_account
from realtime.store.models import Caller, User, UserRole
from realtime.store.people import SignedIn

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


# -- live sessions: signed, unexpired, not ended, and the person still active ------------------



@pytest.fixture
async def bus():
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def people(shared_store):
    """A supervisor and a caller of a new account, as signed-in people."""
    async with shared_store.transaction() as session:
        made = await create_account(session, "Sessions", admin_email=f"admin-{uuid.uuid4().hex}@example.com")
        supervisor = User(account_id=made.account.id, email=f"sup-{uuid.uuid4().hex}@example.com",
                          role=UserRole.SUPERVISOR, password_hash="x", name="Sam")
        caller = Caller(account_id=made.account.id, username=f"caller-{uuid.uuid4().hex}", pin="123456",
                        password_hash="x", name="Cat")
        session.add_all([supervisor, caller])
    return (SignedIn("user", supervisor.id, made.account.id, "supervisor", "Sam"),
            SignedIn("caller", caller.id, made.account.id, "caller", "Cat"))


def cookie(token: str) -> str:
    return f"theme=dark; {COOKIE_NAME}={token}"


async def messages(bus):
    received: asyncio.Queue = asyncio.Queue()
    await bus.subscribe(REVOKED_TOPIC, lambda topic, message: received.put(message))
    return received


async def test_a_started_session_is_live_until_revoked_and_says_so_on_the_bus(shared_store, people, bus):
    supervisor, _ = people
    identity, token = await start_session(shared_store, signer, supervisor)
    other, other_token = await start_session(shared_store, signer, supervisor)  # a second browser
    assert identity.nonce != other.nonce
    live = await live_identity_from_cookie_header(cookie(token), shared_store, signer)
    assert live == identity and live.role == "supervisor"
    received = await messages(bus)

    await revoke(shared_store, bus, "user", supervisor.id, supervisor.account_id, nonce=identity.nonce)
    assert await live_identity(shared_store, signer, token) is None
    assert await live_identity_from_cookie_header(cookie(token), shared_store, signer) is None
    assert await live_identity(shared_store, signer, other_token) == other  # the other browser stays in
    assert await asyncio.wait_for(received.get(), 5) == {
        "kind": "user", "person_id": supervisor.id, "account_id": supervisor.account_id, "nonce": identity.nonce}


async def test_revoking_a_person_ends_all_their_sessions_and_only_theirs(shared_store, people, bus):
    supervisor, caller = people
    tokens = [(await start_session(shared_store, signer, caller))[1] for _ in range(3)]
    _, supervisor_token = await start_session(shared_store, signer, supervisor)
    received = await messages(bus)

    await revoke(shared_store, bus, "caller", caller.id, caller.account_id)  # a kick
    for token in tokens:
        assert await live_identity(shared_store, signer, token) is None
    assert await live_identity(shared_store, signer, supervisor_token) is not None
    assert await asyncio.wait_for(received.get(), 5) == {
        "kind": "caller", "person_id": caller.id, "account_id": caller.account_id, "nonce": None}
    # A new sign-in after the kick works.
    _, fresh = await start_session(shared_store, signer, caller)
    assert await live_identity(shared_store, signer, fresh) is not None


async def test_a_session_ends_with_its_person_or_their_rights(shared_store, people):
    supervisor, caller = people
    _, caller_token = await start_session(shared_store, signer, caller)
    _, supervisor_token = await start_session(shared_store, signer, supervisor)
    async with shared_store.transaction() as session:
        await session.execute(update(Caller).where(Caller.id == caller.id).values(active=False))
        await session.execute(update(User).where(User.id == supervisor.id).values(role=UserRole.ADMIN))
    assert await live_identity(shared_store, signer, caller_token) is None
    # The role comes from the store, not from the cookie signed before the change.
    assert (await live_identity(shared_store, signer, supervisor_token)).role == "admin"


async def test_a_signed_cookie_never_recorded_or_for_someone_else_is_not_live(shared_store, people):
    supervisor, caller = people
    _, forged = signer.issue("user", supervisor.id, supervisor.account_id, "admin")  # signed, never started
    assert await live_identity(shared_store, signer, forged) is None
    identity, token = await start_session(shared_store, signer, caller)
    # The nonce of a live caller session, presented as the supervisor: not live.
    swapped = signer.dumps(identity.__class__(kind="user", id=supervisor.id, account_id=supervisor.account_id,
                                              role="admin", nonce=identity.nonce, expires_at=identity.expires_at))
    assert await live_identity(shared_store, signer, swapped) is None
    expired = SessionSigner("s" * 32, max_age=-1)
    _, old = await start_session(shared_store, expired, caller)
    assert await live_identity(shared_store, signer, old) is None
    for header in (None, "", "garbage", f"{COOKIE_NAME}=\"unterminated", f"{COOKIE_NAME}=\ud800"):
        assert await live_identity_from_cookie_header(header, shared_store, signer) is None


async def test_a_request_with_a_live_cookie_has_an_identity(aiohttp_client, shared_store, people):
    _, caller = people
    _, token = await start_session(shared_store, signer, caller)

    async def whoami(request):
        identity = await live_identity_from_request(request, shared_store, signer)
        return web.json_response({"id": identity.id if identity else None})

    app = web.Application()
    app.router.add_get("/me", whoami)
    client = await aiohttp_client(app)
    assert await (await client.get("/me", cookies={COOKIE_NAME: token})).json() == {"id": caller.id}
    assert await (await client.get("/me")).json() == {"id": None}
