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
from sqlalchemy.exc import IntegrityError

from realtime.api import (
    blocked_numbers,
    call_callers,  # noqa: F401 - adds the callers' routes to calls.resource
    caller_groups,
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
    users,
    webhook_deliveries,
)
from realtime.api.auth import api_key_of, authenticate
from realtime.api.browsable import PAGE_POLICY, render_page, wants_html
from realtime.api.errors import (
    ApiError,
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    error_body,
    error_response,
)
from realtime.api.openapi import build_document
from realtime.api.pagination import public_url
from realtime.api.ratelimit import RateLimiter
from realtime.api.routing import Context, Operation, Resource
from realtime.api.validation import parse_json, parse_query
from realtime.app_keys import SETTINGS, STORE

logger = logging.getLogger(__name__)

PREFIX = "/v1"

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
    calls.resource,  # with its callers' routes (call_callers)
)

RESOURCES: web.AppKey[list[Resource]] = web.AppKey("api_resources", list)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("api_rate_limiter", RateLimiter)


def setup_api(app: web.Application) -> None:
    """Add every /v1 route, the OpenAPI document, auth, errors and rate limits to ``app``."""
    settings = app[SETTINGS]
    resources = list(RESOURCES_IN_ORDER)
    app[RESOURCES] = resources
    app[LIMITER] = RateLimiter(settings.api_rate_limit, settings.redis_url)

    async def close_limiter(app: web.Application) -> None:
        await app[LIMITER].close()

    app.on_cleanup.append(close_limiter)
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
        async with store.transaction() as session:
            account = None if operation.public else await authenticate(session, request)
            params = parse_query(request.query, operation.query)
            body = (operation.body.validate(parse_json(await request.read()), partial=operation.partial)
                    if operation.body else {})
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
    if not _is_api(request):
        return await handler(request)
    key = api_key_of(request)
    identity = f"key:{key}" if key else f"addr:{request.remote}"
    try:
        verdict = await request.app[LIMITER].hit(identity)
    except Exception:  # noqa: BLE001 - a broken limiter store must not take the API down
        logger.warning("rate limiter unavailable; request let through", exc_info=True)
        return await handler(request)
    if not verdict.allowed:
        response: web.StreamResponse = error_response(RateLimited(
            f"more than {verdict.limit} requests in the window; retry later", details={"limit": verdict.limit}))
    else:
        response = await handler(request)
    response.headers.update(verdict.headers())
    return response


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
