"""Who is calling: an account, by its ``api_key`` and ``api_auth``, or a signed-in admin's
or supervisor's session cookie for reading.

The key and secret may come as query parameters or as HTTP Basic credentials
``api_key:api_auth``. The secret is compared in constant time, and an unknown key costs
the same comparison as a wrong secret.

Without them, a live session cookie of an admin or supervisor reads (GET and HEAD) their
own account, so the API can be browsed from the address bar after signing in. It never
writes: a cookie rides along on requests other sites make a browser send, and a write must
need something no other site has (the key).
"""
from __future__ import annotations

import base64
import binascii
import logging

from aiohttp import hdrs, web
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.api.errors import ReadOnlySession, Unauthorized
from realtime.api.routing import Context
from realtime.app_keys import BUS, SESSION_SIGNER
from realtime.sessions import COOKIE_NAME, live_person, publish_revocation
from realtime.store import accounts, sign_ins
from realtime.store.models import Account

logger = logging.getLogger(__name__)


def credentials(request: web.Request) -> tuple[str, str] | None:
    """(api_key, api_auth) from the query string or the Authorization header, or None."""
    key, secret = request.query.get("api_key"), request.query.get("api_auth")
    if key is not None or secret is not None:
        return key or "", secret or ""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    return (key, secret) if sep else None


def api_key_of(request: web.Request) -> str | None:
    """The API key the request claims, verified or not (rate limits count per key)."""
    found = credentials(request)
    return found[0] if found and found[0] else None


READ_METHODS = ("GET", "HEAD")
BROWSING_ROLES = ("admin", "supervisor")


async def authenticate(session: AsyncSession, request: web.Request) -> Account:
    found = credentials(request)
    if found is None:
        account = await _account_of_session(session, request)
        if account is not None:
            return account
        raise Unauthorized(
            "authenticate with api_key and api_auth, as query parameters or HTTP Basic credentials",
            details={"missing": ["api_key", "api_auth"]},
        )
    account = await accounts.authenticate(session, *found)
    if account is None:
        raise Unauthorized("api_key or api_auth is wrong")
    return account


async def _account_of_session(session: AsyncSession, request: web.Request) -> Account | None:
    """The account of a live admin or supervisor session in the cookie, for reading only;
    raises ReadOnlySession when such a session tries to write."""
    signer = request.app.get(SESSION_SIGNER)
    identity = signer.loads(request.cookies.get(COOKIE_NAME)) if signer is not None else None
    if identity is None or identity.kind != "user":
        return None
    person = await live_person(session, identity)
    if person is None or person.role not in BROWSING_ROLES:
        return None
    if request.method not in READ_METHODS:
        raise ReadOnlySession(f"the session cookie only reads the API: {request.method} needs api_key and api_auth")
    return await session.get(Account, person.account_id)


async def end_sessions(ctx: Context, kind: str, person_id: int) -> None:
    """End every session of a person (their password changed, they were deactivated or
    deleted) in the request's transaction, and say so on the bus once it has committed."""
    revocation = await sign_ins.end(ctx.session, kind, person_id, ctx.account_id)
    bus = ctx.request.app.get(BUS)

    async def announce() -> None:
        await publish_revocation(bus, revocation)

    ctx.after_commit(announce)
