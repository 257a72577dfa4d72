"""``setup_api``: the /v1 routes and their middlewares on an existing application.

The application must hold ``SETTINGS`` when this runs and ``STORE`` by the time requests
arrive (the server opens the store on start-up); nothing else is assumed.
Middlewares act on /v1 paths only, so the rest of the site (Socket.IO, static files)
is untouched.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import BadHttpMessage
from limits import RateLimitItem
from limits import parse as parse_limit
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from realtime.api import (
    blocked_numbers,
    call_callers,  # noqa: F401 - adds the callers' routes to calls.resource
    call_recordings,
    caller_groups,
    caller_sessions,
    callers,
    calls,
    campaigns,
    households,
    lead_fields,
    leads,
    lists,
    recordings,
    reports,
    scripts,
    supervisor_actions,
    users,
    webhook_deliveries,
)
from realtime.api.auth import api_key_of, authenticate
from realtime.api.browsable import PAGE_POLICY, render_page, wants_html
from realtime.api.bodies import read_body
from realtime.api.errors import (
    ApiError,
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerBusy,
    UnsupportedMediaType,
    error_body,
    error_response,
)
from realtime.api.openapi import build_document
from realtime.api.pagination import public_url
from realtime.api.ratelimit import RateLimiter, Verdict
from realtime.api.routing import Context, Operation, Resource
from realtime.api.validation import parse_json, parse_query
from realtime.app_keys import SETTINGS, STORE
from realtime.store.models import Account

logger = logging.getLogger(__name__)

PREFIX = "/v1"
BUSY_RETRY_AFTER = 2  # seconds a client is told to wait when no database connection is free

# Every resource, in the order GET /v1 lists them.
RESOURCES_IN_ORDER = (
    campaigns.resource,
    scripts.resource,
    callers.resource,
    caller_groups.resource,
    lead_fields.resource,
    leads.resource,
    households.resource,
    lists.resource,
    blocked_numbers.resource,
    webhook_deliveries.resource,
    recordings.resource,
    users.resource,
    reports.resource,
    call_recordings.resource,
    caller_sessions.resource,
    supervisor_actions.resource,
    calls.resource,  # with its callers' routes (call_callers)
)

RESOURCES: web.AppKey[list[Resource]] = web.AppKey("api_resources", list)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("api_rate_limiter", RateLimiter)
FAILED_AUTH_LIMIT: web.AppKey[RateLimitItem] = web.AppKey("api_failed_auth_limit", RateLimitItem)
KEY_VERDICT: web.RequestKey[Verdict] = web.RequestKey("api_key_verdict", Verdict)  # for the headers


def setup_api(app: web.Application) -> None:
    """Add every /v1 route, the OpenAPI document, auth, errors and rate limits to ``app``."""
    settings = app[SETTINGS]
    resources = list(RESOURCES_IN_ORDER)
    app[RESOURCES] = resources
    app[LIMITER] = RateLimiter(settings.api_rate_limit, settings.redis_url)
    app[FAILED_AUTH_LIMIT] = parse_limit(settings.api_auth_failure_limit)

    async def close_limiter(app: web.Application) -> None:
        await app[LIMITER].close()

    app.on_cleanup.append(close_limiter)
    call_recordings.setup(app)  # recordings are read from the PBX
    for operation in [*(op for r in resources for op in r.operations), *ROOT.operations]:
        endpoint = _endpoint(operation)
        app.router.add_route(operation.method, operation.route_path, endpoint, name=operation.operation_id)
        if operation.method == "GET":  # HEAD reads as GET does, without the body
            app.router.add_route("HEAD", operation.route_path, endpoint)
    app.middlewares.append(browsable_middleware)
    app.middlewares.append(rate_limit_middleware)
    app.middlewares.append(error_middleware)


def _endpoint(operation: Operation) -> Any:
    # Read from the path once, not on every request; text parameters the handler reads itself.
    path_params = [name for name in operation.path_params if name not in operation.text_params]

    async def endpoint(request: web.Request) -> web.StreamResponse:
        store = request.app[STORE]
        ids = {name: int(request.match_info[name]) for name in path_params}
        # Read before the transaction: a client slow to send holds no database connection.
        # (A handler reading its body itself, ``operation.request``, gets these bytes again.)
        raw = await read_body(request) if operation.body or operation.request else b""
        async with store.transaction() as session:
            account = None if operation.public else await authenticate(session, request)
            if account is not None:
                await count_request(request, account)
            params = parse_query(request.query, operation.query)
            body = {}
            if operation.body:
                if raw.strip() and not is_json(request.content_type):
                    raise UnsupportedMediaType(f"send the body as application/json, not {request.content_type}")
                body = operation.body.validate(parse_json(raw), partial=operation.partial)
            context = Context(request, session, account, operation, params, body, ids)
            result = await operation.handler(context)
        for callback in context.committed:
            await callback()
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        return web.json_response(result, status=operation.status)
    endpoint.__name__ = operation.operation_id
    return endpoint


def is_json(content_type: str) -> bool:
    """application/json, or a JSON-based type such as application/merge-patch+json."""
    return content_type == "application/json" or (content_type.startswith("application/")
                                                   and content_type.endswith("+json"))


def _is_api(request: web.Request) -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every /v1 failure answers ``{error: {id, message, details}}``."""
    if not _is_api(request):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except BadHttpMessage as exc:
        # A body aiohttp cannot parse while the handler reads it (a broken multipart part header).
        return error_response(BadRequest(f"malformed request body: {exc.message}", error_id="malformed-body"))
    except PoolTimeout:
        # Every database connection is busy and none came free in time: shed the load at once
        # rather than queue more requests behind the saturated database.
        logger.warning("no database connection free for %s %s: answered 503", request.method, request.path)
        response = error_response(ServerBusy(f"the server is busy; retry in {BUSY_RETRY_AFTER} seconds",
                                             details={"retry_after": BUSY_RETRY_AFTER}))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response
    except IntegrityError as exc:
        # A race past the service's own checks (two creates of one name at once).
        logger.info("integrity error on %s %s: %s", request.method, request.path, exc.orig)
        return error_response(Conflict("conflicts with existing data"))
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(NotFound(f"no such resource: {request.path}"))
        if exc.status == 405:
            return error_response(MethodNotAllowed(f"{request.method} is not allowed on {request.path}"))
        if exc.status == 413:
            return error_response(PayloadTooLarge("the request body is too large"))
        if exc.status < 400:
            raise
        error_id = "-".join((exc.reason or "error").lower().split())
        return web.json_response(error_body(error_id, exc.reason or "error"), status=exc.status)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(error_body("internal-error", "something went wrong; it has been logged"),
                                 status=500)


@web.middleware
async def browsable_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """A browser asking for HTML gets the JSON answer as a page with clickable links."""
    if not _is_api(request):
        return await handler(request)
    response = await handler(request)
    if response.prepared:  # streamed already: its headers are gone
        return response
    response.headers.add(hdrs.VARY, "Accept")  # one URL, two representations
    if (not wants_html(request.headers.get(hdrs.ACCEPT)) or not isinstance(response, web.Response)
            or response.content_type != "application/json" or not isinstance(response.body, bytes)):
        return response
    query = public_url(request.url).query_string
    page = render_page(json.loads(response.body), status=response.status, origin=str(request.url.origin()),
                       path=request.path, query=query)
    headers = {name: value for name, value in response.headers.items()
               if name.lower() not in ("content-type", "content-length", "content-encoding")}
    headers.update({hdrs.CONTENT_SECURITY_POLICY: PAGE_POLICY, hdrs.CACHE_CONTROL: "no-store"})
    return web.Response(text=page, status=response.status, content_type="text/html", headers=headers)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Requests count per API key once its secret is proven (the endpoint counts them), per
    client address without a key; failed authentications count per address on their own.

    A wrong ``api_auth`` thus never uses up the allowance of the key it names, and an address
    trying keys or secrets is refused once it has failed too often, whatever key it tries.
    """
    if not _is_api(request):
        return await handler(request)
    limiter = request.app[LIMITER]
    key = api_key_of(request)
    failures = f"auth-failures:{request.remote}"
    verdict = await limiter.check(failures, request.app[FAILED_AUTH_LIMIT])
    if not verdict.allowed:
        response: web.StreamResponse = error_response(RateLimited(
            f"more than {verdict.limit} failed authentications from this address in the window; retry later",
            error_id="too-many-failed-authentications", details={"limit": verdict.limit}))
        response.headers.update(verdict.headers())
        return response
    # With a key, only checked here: a key over its limit is refused before any work.
    verdict = await (limiter.check(f"key:{key}") if key else limiter.hit(f"addr:{request.remote}"))
    if not verdict.allowed:
        response = error_response(RateLimited(
            f"more than {verdict.limit} requests in the window; retry later", details={"limit": verdict.limit}))
    else:
        response = await handler(request)
        if response.status == 401:
            verdict = await limiter.hit(failures, request.app[FAILED_AUTH_LIMIT])
        elif KEY_VERDICT in request:
            verdict = request[KEY_VERDICT]
        elif key:  # a route needing no credentials (the API root): counted per address
            verdict = await limiter.hit(f"addr:{request.remote}")
    response.headers.update(verdict.headers())
    return response


async def count_request(request: web.Request, account: Account) -> None:
    """Count an authenticated request against its key; RateLimited past the key's limit."""
    verdict = await request.app[LIMITER].hit(f"key:{account.api_key}")
    request[KEY_VERDICT] = verdict
    if not verdict.allowed:
        raise RateLimited(f"more than {verdict.limit} requests in the window; retry later",
                          details={"limit": verdict.limit})


# -- the API's own two documents --------------------------------------------------------------
ROOT = Resource("v1", None, "The API root and its description", path=PREFIX)


@ROOT.operation("GET", "", name="index", summary="List the resources", public=True, response={
    "type": "object",
    "required": ["uri", "name", "openapi", "resources"],
    "properties": {
        "uri": {"type": "string", "format": "uri"},
        "name": {"type": "string"},
        "openapi": {"type": "string", "format": "uri"},
        "resources": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "uri", "description"],
            "properties": {"name": {"type": "string"}, "uri": {"type": "string", "format": "uri"},
                           "description": {"type": "string"}},
        }},
    },
})
async def index(ctx: Context) -> dict[str, Any]:
    return {
        "uri": ctx.uri(PREFIX),
        "name": "v1",
        "openapi": ctx.uri(PREFIX + "/openapi.json"),
        "resources": [
            {"name": r.name, "uri": ctx.uri(r.path), "description": r.description}
            for r in ctx.request.app[RESOURCES]
        ],
    }


@ROOT.operation("GET", "/openapi.json", name="openapi", summary="This API's OpenAPI 3.1 document",
                public=True, response={"type": "object", "required": ["openapi", "paths"]})
async def openapi(ctx: Context) -> dict[str, Any]:
    return build_document(ctx.request.app[RESOURCES], ROOT.operations, ctx.uri(""))
