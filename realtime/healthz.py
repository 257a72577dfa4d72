"""``GET /healthz``: each component and its status; 200 when all are usable, else 503."""
from __future__ import annotations

import asyncio
import logging
import inspect
from collections.abc import Awaitable, Callable

from aiohttp import web

from realtime.health import ComponentHealth, Status

logger = logging.getLogger(__name__)

# A live probe (async) or a component's cheap, cached ``health`` method (sync).
Check = Callable[[], Awaitable[ComponentHealth] | ComponentHealth]
COMPONENTS: web.AppKey[dict[str, Check]] = web.AppKey("health_components")

CHECK_TIMEOUT = 3.0


def register(app: web.Application, name: str, check: Check) -> None:
    app.setdefault(COMPONENTS, {})[name] = check


def setup_healthz(app: web.Application) -> None:
    app.setdefault(COMPONENTS, {})
    app.router.add_get("/healthz", healthz)


async def _run(check: Check) -> ComponentHealth:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            result = check()
            return await result if inspect.isawaitable(result) else result
    except TimeoutError:
        return ComponentHealth(Status.DOWN, f"no answer within {CHECK_TIMEOUT:g} s")
    except Exception as exc:  # a broken check must show as down, not as a 500
        logger.exception("health check failed")
        return ComponentHealth(Status.DOWN, str(exc) or type(exc).__name__)


async def healthz(request: web.Request) -> web.Response:
    checks = request.app[COMPONENTS]
    results = dict(zip(checks, await asyncio.gather(*(_run(c) for c in checks.values()))))
    # A component that is deliberately absent (e.g. telephony on a web-only process) is not a fault.
    healthy = all(h.usable or h.status is Status.NOT_CONFIGURED for h in results.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "components": {name: h.as_json() for name, h in results.items()},
    }
    return web.json_response(body, status=200 if healthy else 503)
