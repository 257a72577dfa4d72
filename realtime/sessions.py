"""Cookie sessions for callers and for users (supervisors and admins).

The cookie holds who is logged in, signed with HMAC-SHA256 under the server's secret
key, with an expiry; it is HttpOnly and SameSite=Lax (Secure when served over HTTPS),
so scripts on the page cannot read it and other sites cannot ride on it. The same
cookie authorises Socket.IO connections, read from the handshake's Cookie header.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from http.cookies import CookieError, SimpleCookie
from typing import Literal

from aiohttp import web

COOKIE_NAME = "realtime_session"
DEFAULT_MAX_AGE = 12 * 3600  # a working day and then some

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
            nonce=secrets.token_urlsafe(9),
            expires_at=int(time.time()) + self.max_age,
        )
        return identity, self.dumps(identity)

    def dumps(self, identity: Identity) -> str:
        body = json.dumps(dataclasses.asdict(identity), separators=(",", ":"), sort_keys=True).encode()
        payload = base64.urlsafe_b64encode(body).rstrip(b"=")
        return (payload + b"." + self._sign(payload)).decode()

    def loads(self, token: str | None, *, now: float | None = None) -> Identity | None:
        """The identity in a token, or None if it is forged, malformed or expired."""
        if not token or token.count(".") != 1:
            return None
        payload, signature = token.encode().split(b".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            identity = Identity(**data)
        except (ValueError, TypeError):
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
    return signer.loads(request.cookies.get(COOKIE_NAME))


def identity_from_cookie_header(header: str | None, signer: SessionSigner) -> Identity | None:
    """For Socket.IO handshakes, which hand us the raw Cookie header."""
    if not header:
        return None
    try:
        morsel = SimpleCookie(header).get(COOKIE_NAME)
    except CookieError:
        return None
    return signer.loads(morsel.value if morsel else None)
