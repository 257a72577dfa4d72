"""Cookie sessions for callers and for users (supervisors and admins).

The cookie holds who is logged in, signed with HMAC-SHA256 under the server's secret
key, with an expiry and a random nonce; it is HttpOnly and SameSite=Lax (Secure when
served over HTTPS), so scripts on the page cannot read it and other sites cannot ride on
it. The same cookie authorises Socket.IO connections, read from the handshake's Cookie
header.

A signature alone would keep a cookie working for its whole life. So each session is also
recorded in the store under its nonce (:mod:`realtime.store.sign_ins`), and a session is
*live* only while its row exists and its person is active. Use the ``live_identity*``
functions to authorise anything; :func:`revoke` ends sessions (sign-out, a password change,
deactivation, a kick) and, once that is committed, says so on the bus on
:data:`REVOKED_TOPIC` so every web process can drop the person's sockets::

    {"kind": "caller" | "user", "person_id": int, "account_id": int, "nonce": str | None}

(``nonce`` None: every session of that person ended).
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Literal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store import sign_ins
from realtime.store.people import SignedIn
from realtime.store.sign_ins import Revocation

if TYPE_CHECKING:
    from realtime.bus import Bus
    from realtime.store.database import Store

logger = logging.getLogger(__name__)

COOKIE_NAME = "realtime_session"
DEFAULT_MAX_AGE = 12 * 3600  # a working day and then some
REVOKED_TOPIC = "sessions:revoked"

Kind = Literal["caller", "user"]


@dataclasses.dataclass(frozen=True)
class Identity:
    kind: Kind
    id: int
    account_id: int
    role: str = ""  # for users: admin | supervisor
    nonce: str = ""  # distinguishes two log-ins of the same person
    expires_at: int = 0


class SessionSigner:
    def __init__(self, secret_key: str, *, max_age: int = DEFAULT_MAX_AGE) -> None:
        # A key of its own, so the secret key is never used raw for two purposes.
        self._key = hashlib.sha256(b"realtime.sessions:" + secret_key.encode()).digest()
        self.max_age = max_age

    def issue(self, kind: Kind, id: int, account_id: int, role: str = "") -> tuple[Identity, str]:
        identity = Identity(
            kind=kind,
            id=id,
            account_id=account_id,
            role=role,
            nonce=secrets.token_urlsafe(16),  # also the session's key in the store
            expires_at=int(time.time()) + self.max_age,
        )
        return identity, self.dumps(identity)

    def dumps(self, identity: Identity) -> str:
        body = json.dumps(dataclasses.asdict(identity), separators=(",", ":"), sort_keys=True).encode()
        payload = base64.urlsafe_b64encode(body).rstrip(b"=")
        return (payload + b"." + self._sign(payload)).decode()

    def loads(self, token: str | None, *, now: float | None = None) -> Identity | None:
        """The identity in a token, or None if it is forged, malformed or expired.

        Only the signature is checked here: use the ``live_identity*`` functions, which also
        check that the session has not been ended."""
        if not token or not token.isascii() or token.count(".") != 1:
            return None
        payload, signature = token.encode().split(b".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            identity = Identity(**data)
        except (ValueError, TypeError):
            return None
        if not (isinstance(identity.id, int) and isinstance(identity.account_id, int)
                and isinstance(identity.nonce, str) and isinstance(identity.expires_at, int)):
            return None
        if identity.expires_at < (time.time() if now is None else now):
            return None
        return identity

    def _sign(self, payload: bytes) -> bytes:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=")


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.secure,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path="/")


def identity_from_request(request: web.Request, signer: SessionSigner) -> Identity | None:
    """The signed identity in the request's cookie, live or not (see :func:`live_identity_from_request`)."""
    return signer.loads(request.cookies.get(COOKIE_NAME))


def token_from_cookie_header(header: str | None) -> str | None:
    """The session cookie's value in a raw Cookie header, or None."""
    if not header:
        return None
    try:
        morsel = SimpleCookie(header).get(COOKIE_NAME)
    except CookieError:
        return None
    return morsel.value if morsel else None


def identity_from_cookie_header(header: str | None, signer: SessionSigner) -> Identity | None:
    """The signed identity in a raw Cookie header, live or not (see :func:`live_identity_from_cookie_header`)."""
    return signer.loads(token_from_cookie_header(header))


# -- live sessions ----------------------------------------------------------------------------

async def start_session(store: Store, signer: SessionSigner, person: SignedIn) -> tuple[Identity, str]:
    """Record a new session for ``person``: (its identity, the cookie value to set)."""
    identity, token = signer.issue(person.kind, person.id, person.account_id, person.role)  # type: ignore[arg-type]
    async with store.transaction() as session:
        await sign_ins.start(session, identity.kind, identity.id, identity.account_id, identity.nonce,
                             dt.datetime.fromtimestamp(identity.expires_at, dt.timezone.utc))
    return identity, token


async def live_person(session: AsyncSession, identity: Identity | None) -> SignedIn | None:
    """The person behind a signed identity if its session is live, inside ``session``'s
    transaction (for handlers that have one open already)."""
    if identity is None:
        return None
    return await sign_ins.live(session, identity.kind, identity.id, identity.account_id, identity.nonce)


def _refreshed(identity: Identity, person: SignedIn | None) -> Identity | None:
    # The role is the person's now, not what it was when the cookie was signed.
    return None if person is None else dataclasses.replace(identity, role=person.role)


async def live_identity(store: Store, signer: SessionSigner, token: str | None) -> Identity | None:
    """The identity of a session cookie's value if the session is live: signed by us,
    unexpired, not ended (signed out, revoked, kicked) and its person still active.
    The identity's ``role`` is the person's current one."""
    identity = signer.loads(token)
    if identity is None:
        return None
    async with store.sessions() as session:
        return _refreshed(identity, await live_person(session, identity))


async def live_identity_from_request(request: web.Request, store: Store, signer: SessionSigner) -> Identity | None:
    """:func:`live_identity` of the request's session cookie (HTTP handlers)."""
    return await live_identity(store, signer, request.cookies.get(COOKIE_NAME))


async def live_identity_from_cookie_header(header: str | None, store: Store,
                                           signer: SessionSigner) -> Identity | None:
    """:func:`live_identity` of the session cookie in a raw Cookie header (Socket.IO handshakes)."""
    return await live_identity(store, signer, token_from_cookie_header(header))


async def revoke(store: Store, bus: Bus | None, kind: str, person_id: int, account_id: int,
                 nonce: str | None = None) -> None:
    """End one session of a person (``nonce``) or all of them (``nonce`` None: a password
    change, deactivation, a kick), then tell every web process on :data:`REVOKED_TOPIC`.

    The sessions have ended once this returns, whether or not the bus carried the news."""
    async with store.transaction() as session:
        revocation = await sign_ins.end(session, kind, person_id, account_id, nonce)
    await publish_revocation(bus, revocation)


async def publish_revocation(bus: Bus | None, revocation: Revocation) -> None:
    """Say on the bus that sessions ended; call it after the ending has been committed.

    A bus that is down loses only the news: the sessions have ended in the store, and each
    process's next live check refuses them."""
    if bus is None:
        return
    try:
        await bus.publish(REVOKED_TOPIC, revocation.message())
    except Exception:  # noqa: BLE001 - BusError, or Redis failing mid-publish
        logger.warning("could not announce ended sessions %s on the bus", revocation.message(), exc_info=True)
