"""Signing in to the pages: ``GET/POST /login``, ``POST /logout`` and ``GET /session``.

Admins and supervisors sign in with their email, web callers with their username; the
answer is the signed session cookie of :mod:`realtime.sessions`, which the pages and the
Socket.IO namespaces then trust. The form works without JavaScript (a wrong password shows
the page again with the reason); a JSON body gets JSON answers, for the SDK. Attempts are
limited per person and per client address (failures only), shared across web processes
through Redis when configured.

Each sign-in is recorded (:func:`realtime.sessions.start_session`), and signing out ends that
session on every web process, not just in this browser.
"""
from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from sqlalchemy.exc import TimeoutError as PoolTimeout
from yarl import URL

from realtime import app_keys
from realtime.api.ratelimit import RateLimiter
from realtime.pages import home_path
from realtime.sessions import (
    SessionSigner,
    clear_session_cookie,
    identity_from_request,
    live_person,
    revoke,
    set_session_cookie,
    start_session,
)
from realtime.store.people import SignedIn, sign_in

logger = logging.getLogger(__name__)

FAILURES: web.AppKey[dict[str, RateLimiter]] = web.AppKey("sign_in_failures", dict)
# Failed attempts only. Per person: plenty for typos, useless for guessing. Per address: a
# whole call centre behind one NAT mistyping at nine o'clock stays well under it, while a
# flood of guesses over many names is cut off.
FAILURE_LIMITS = {"login": "10/minute", "address": "300/minute"}
LOGIN_PAGE = Path(__file__).resolve().parent.parent / "static" / "login.html"
NO_STORE = {"Cache-Control": "no-store"}


def setup_sign_in(app: web.Application) -> None:
    """Serve the sign-in routes; the settings must already be on ``app``."""
    app[app_keys.SESSION_SIGNER] = SessionSigner(app[app_keys.SETTINGS].secret_key)
    app.cleanup_ctx.append(_attempts_ctx)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", _shedding_load(login))
    app.router.add_post("/logout", _shedding_load(logout))
    app.router.add_get("/session", _shedding_load(current_session))


def _shedding_load(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[..., Any]:
    """No free database connection in time: 503 with Retry-After, as the API answers."""
    async def handle(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except PoolTimeout:
            logger.warning("%s %s: no database connection free", request.method, request.path)
            return _error(503, "server-busy", "The server is busy; try again in a moment.", {"Retry-After": "2"})

    return handle


async def _attempts_ctx(app: web.Application) -> AsyncIterator[None]:
    redis_url = app[app_keys.SETTINGS].redis_url
    app[FAILURES] = {kind: RateLimiter(limit, redis_url) for kind, limit in FAILURE_LIMITS.items()}
    yield
    for limiter in app[FAILURES].values():
        await limiter.close()


async def login_page(request: web.Request) -> web.Response:
    return _page(next_path=_local_path(request.query.get("next")))


async def login(request: web.Request) -> web.Response:
    wants_json = request.content_type == "application/json"
    if _cross_site(request):
        return _error(403, "cross-site-request", "Sign in from this site's own page.")
    try:
        form: dict[str, Any] = await request.json() if wants_json else dict(await request.post())
    except (ValueError, BadHttpMessage):  # not JSON, not UTF-8, a broken multipart body
        form = {}
    if not isinstance(form, dict):
        form = {}
    login_name = form.get("login") if isinstance(form.get("login"), str) else ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    next_path = _local_path(form.get("next") if isinstance(form.get("next"), str) else None)

    limiters = request.app[FAILURES]
    counted = {"login": f"sign-in:login:{_login_key(login_name)}", "address": f"sign-in:address:{request.remote}"}
    for kind, key in counted.items():
        verdict = await limiters[kind].check(key)
        if not verdict.allowed:
            message = "Too many failed sign-in attempts. Wait a minute and try again."
            if wants_json:
                return _error(429, "too-many-attempts", message, verdict.headers())
            return _page(message, login_name, next_path, status=429, headers=verdict.headers())

    async with request.app[app_keys.STORE].transaction() as session:  # a rehash may be saved
        person = await sign_in(session, login_name, password)
    if person is None:
        for kind, key in counted.items():
            await limiters[kind].hit(key)
        logger.info("sign-in refused for %r from %s", login_name[:200], request.remote)
        message = "That email or username and password do not match."
        if wants_json:
            return _error(401, "invalid-login", message)
        return _page(message, login_name, next_path, status=401)

    signer = request.app[app_keys.SESSION_SIGNER]
    _, token = await start_session(request.app[app_keys.STORE], signer, person)
    response: web.Response
    if wants_json:
        response = web.json_response({"ok": True, "person": _person_json(person)}, headers=NO_STORE)
    else:
        response = _see_other(next_path or home_path(person.kind))
    set_session_cookie(response, request, token, signer.max_age)
    return response


async def logout(request: web.Request) -> web.Response:
    if _cross_site(request):
        return _error(403, "cross-site-request", "Sign out from this site's own page.")
    identity = identity_from_request(request, request.app[app_keys.SESSION_SIGNER])
    if identity is not None:  # ended in the store, so a copy of the cookie is worthless too
        await revoke(request.app[app_keys.STORE], request.app.get(app_keys.BUS), identity.kind, identity.id,
                     identity.account_id, identity.nonce)
    response: web.Response
    if request.content_type == "application/json":
        response = web.json_response({"ok": True}, headers=NO_STORE)
    else:
        response = _see_other("/login")
    clear_session_cookie(response)
    return response


async def current_session(request: web.Request) -> web.Response:
    """Who the cookie says is signed in, as long as the session is live and the person active."""
    identity = identity_from_request(request, request.app[app_keys.SESSION_SIGNER])
    person = None
    if identity is not None:
        async with request.app[app_keys.STORE].sessions() as session:
            person = await live_person(session, identity)
    if person is None:
        return _error(401, "not-signed-in", "Nobody is signed in.")
    return web.json_response(_person_json(person), headers=NO_STORE)


def _person_json(person: SignedIn) -> dict[str, Any]:
    return {"kind": person.kind, "id": person.id, "account_id": person.account_id, "role": person.role,
            "name": person.name}


def _error(status: int, error_id: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"id": error_id, "message": message}}, status=status,
                             headers={**NO_STORE, **(headers or {})})


def _login_key(login_name: str) -> str:
    """The rate limiter's key for a log-in: a digest, so any text (a lone surrogate, a
    megabyte) makes a short, valid Redis key."""
    normalized = login_name.strip().lower().encode("utf-8", "surrogatepass")
    return hashlib.sha256(normalized).hexdigest()[:32]


def _cross_site(request: web.Request) -> bool:
    """A form posted from another site (login CSRF: signing a victim in as someone else)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # older browsers and non-browser clients; SameSite covers the cookie
    if origin == "null":
        return True
    try:
        return URL(origin).host_port_subcomponent != URL(f"//{request.host}").host_port_subcomponent
    except ValueError:  # "http://[": no origin a browser sends, so not this site's page
        return True


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**NO_STORE, "Location": location})


# Kept as written in a Location header: what a URL may hold, and "%" so escapes stay escapes.
_URL_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


def _local_path(path: str | None) -> str | None:
    """Only a path on this site: never send someone elsewhere after signing in.

    Browsers drop tabs and newlines anywhere in a URL, trim spaces and controls at its ends
    and read a backslash as a slash, so ``/\t/evil.example`` would become ``//evil.example``:
    any such character refuses the path. Other letters are percent-encoded."""
    if not path or not path.startswith("/") or path.startswith("//"):
        return None
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in path):
        return None
    return quote(path, safe=_URL_SAFE)


def _page(error: str | None = None, login_name: str = "", next_path: str | None = None, *,
          status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    text = LOGIN_PAGE.read_text(encoding="utf-8")
    text = text.replace("<!--error-->", f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "")
    text = text.replace('name="login" value=""', f'name="login" value="{html.escape(login_name)}"')
    text = text.replace('name="next" value=""', f'name="next" value="{html.escape(next_path or "")}"')
    return web.Response(text=text, content_type="text/html", status=status, headers={**NO_STORE, **(headers or {})})

