"""Who is calling: an account, by its ``api_key`` and ``api_auth``.

Both may come as query parameters (so the API can be explored from a browser address
bar) or as HTTP Basic credentials ``api_key:api_auth``. The secret is compared in
constant time, and an unknown key costs the same comparison as a wrong secret.
"""
from __future__ import annotations

import base64
import binascii
import logging

from aiohttp import hdrs, web
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.api.errors import Unauthorized
from realtime.api.routing import Context
from realtime.app_keys import BUS
from realtime.sessions import publish_revocation
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


async def authenticate(session: AsyncSession, request: web.Request) -> Account:
    found = credentials(request)
    if found is None:
        raise Unauthorized(
            "authenticate with api_key and api_auth, as query parameters or HTTP Basic credentials",
            details={"missing": ["api_key", "api_auth"]},
        )
    account = await accounts.authenticate(session, *found)
    if account is None:
        raise Unauthorized("api_key or api_auth is wrong")
    return account


async def end_sessions(ctx: Context, kind: str, person_id: int) -> None:
    """End every session of a person (their password changed, they were deactivated or
    deleted) in the request's transaction, and say so on the bus once it has committed."""
    revocation = await sign_ins.end(ctx.session, kind, person_id, ctx.account_id)
    bus = ctx.request.app.get(BUS)

    async def announce() -> None:
        await publish_revocation(bus, revocation)

    ctx.after_commit(announce)
