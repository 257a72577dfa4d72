"""Signing in to the pages: ``GET/POST /login``, ``POST /logout`` and ``GET /session``.

Admins and supervisors sign in with their email, web callers with their username; the
answer is the signed session cookie of :mod:`realtime.sessions`, which the pages and the
Socket.IO namespaces then trust. The form works without JavaScript (a wrong password shows
the page again with the reason); a JSON body gets JSON answers, for the SDK. Attempts are
limited per person and per client address (failures only), shared across web processes
through Redis when configured.
"""
from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from realtime import app_keys
from realtime.api.ratelimit import RateLimiter
from realtime.sessions import SessionSigner, clear_session_cookie, identity_from_request, set_session_cookie
from realtime.store.people import SignedIn, describe, sign_in

logger = logging.getLogger(__name__)

SIGNER: web.AppKey[SessionSigner] = web.AppKey("session_signer", SessionSigner)
FAILURES: web.AppKey[dict[str, RateLimiter]] = web.AppKey("sign_in_failures", dict)
# Failed attempts only, so a whole call centre behind one address can sign in at nine:
# per person plenty for typos and useless for guessing, per address a little more.
FAILURE_LIMITS = {"login": "10/minute", "address": "30/minute"}
LOGIN_PAGE = Path(__file__).resolve().parent.parent / "static" / "login.html"
NO_STORE = {"Cache-Control": "no-store"}


def setup_sign_in(app: web.Application) -> None:
    """Serve the sign-in routes; the settings must already be on ``app``."""
    app[SIGNER] = SessionSigner(app[app_keys.SETTINGS].secret_key)
    app.cleanup_ctx.append(_attempts_ctx)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/session", current_session)


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
    except ValueError:
        form = {}
    if not isinstance(form, dict):
        form = {}
    login_name = form.get("login") if isinstance(form.get("login"), str) else ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    next_path = _local_path(form.get("next") if isinstance(form.get("next"), str) else None)

    limiters = request.app[FAILURES]
    counted = {"login": f"sign-in:login:{login_name.strip().lower()}", "address": f"sign-in:address:{request.remote}"}
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

    signer = request.app[SIGNER]
    _, token = signer.issue(person.kind, person.id, person.account_id, person.role)  # type: ignore[arg-type]
    response: web.Response
    if wants_json:
        response = web.json_response({"ok": True, "person": _person_json(person)}, headers=NO_STORE)
    else:
        response = _see_other(next_path or "/")
    set_session_cookie(response, request, token, signer.max_age)
    return response


async def logout(request: web.Request) -> web.Response:
    if _cross_site(request):
        return _error(403, "cross-site-request", "Sign out from this site's own page.")
    response: web.Response
    if request.content_type == "application/json":
        response = web.json_response({"ok": True}, headers=NO_STORE)
    else:
        response = _see_other("/login")
    clear_session_cookie(response)
    return response


async def current_session(request: web.Request) -> web.Response:
    """Who the cookie says is signed in, as long as that person is still active."""
    identity = identity_from_request(request, request.app[SIGNER])
    person = None
    if identity is not None:
        async with request.app[app_keys.STORE].sessions() as session:
            person = await describe(session, identity.kind, identity.id, identity.account_id)
    if person is None:
        return _error(401, "not-signed-in", "Nobody is signed in.")
    return web.json_response(_person_json(person), headers=NO_STORE)


def _person_json(person: SignedIn) -> dict[str, Any]:
    return {"kind": person.kind, "id": person.id, "account_id": person.account_id, "role": person.role,
            "name": person.name}


def _error(status: int, error_id: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"id": error_id, "message": message}}, status=status,
                             headers={**NO_STORE, **(headers or {})})


def _cross_site(request: web.Request) -> bool:
    """A form posted from another site (login CSRF: signing a victim in as someone else)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # older browsers and non-browser clients; SameSite covers the cookie
    return origin == "null" or URL(origin).host_port_subcomponent != URL(f"//{request.host}").host_port_subcomponent


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**NO_STORE, "Location": location})


def _local_path(path: str | None) -> str | None:
    """Only a path on this site: never send someone elsewhere after signing in."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


def _page(error: str | None = None, login_name: str = "", next_path: str | None = None, *,
          status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    text = LOGIN_PAGE.read_text(encoding="utf-8")
    text = text.replace("<!--error-->", f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "")
    text = text.replace('name="login" value=""', f'name="login" value="{html.escape(login_name)}"')
    text = text.replace('name="next" value=""', f'name="next" value="{html.escape(next_path or "")}"')
    return web.Response(text=text, content_type="text/html", status=status, headers={**NO_STORE, **(headers or {})})

