"""Serving the application over HTTP, as ``realtime serve`` does.

aiohttp runs the protocol; these are the parts of it we set (see docs/operations.md):

- **A request whose client has gone is cancelled** (``handler_cancellation``): its
  transaction is rolled back and its database connection returned, instead of the work
  running on for nobody. aiohttp's ``run_app`` leaves it off; its test server turns it on,
  so tests pass either way unless they serve as :func:`serve` does (with :class:`Runner`).
- **Idle timeout** (``REALTIME_HTTP_IDLE_TIMEOUT``): aiohttp has one timer for a
  connection waiting for its next request, and it runs while that request's headers
  arrive: a client that opens a connection and sends half a header is dropped when it
  expires. There is no separate header timeout to set. Bodies are read with timeouts
  of their own (``realtime.api.bodies``).
- **Errors before any handler**: a request line or header over 8190 bytes, more than
  128 headers, or bytes that are not HTTP are answered by aiohttp itself, before routing
  and middlewares, in plain text. :class:`Runner` answers them in the API's JSON error
  shape instead: 431 ``headers-too-large``, 400 ``malformed-request``. What still answers
  outside our control: a connection closed before its request line (nothing to answer),
  and TLS, which a load balancer or proxy in front terminates.
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from realtime.api.errors import error_body
from realtime.config import Settings

logger = logging.getLogger(__name__)


def handler_args(settings: Settings) -> dict[str, Any]:
    """The protocol settings of the application's server (``web.Application(handler_args=...)``:
    they apply however the application is run)."""
    return {"handler_cancellation": True, "keepalive_timeout": settings.http_idle_timeout}


class _Protocol(RequestHandler):
    """aiohttp's protocol, answering what it refuses itself in the API's error shape."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:  # a client's mistake, or an attack: no traceback per request
            logger.info("refused a malformed request from %s: %s", request.remote, message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("a response is under way; the error cannot be sent")
        error_id, text = _describe(status, exc, message)
        if error_id == "headers-too-large":
            status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        response = web.json_response(error_body(error_id, text), status=status)
        response.force_close()
        return response


def _describe(status: int, exc: BaseException | None, message: str | None) -> tuple[str, str]:
    if isinstance(exc, LineTooLong) or "Too many headers" in (message or ""):
        return "headers-too-large", "the request's headers are too large"
    if status == 400:
        return "malformed-request", f"the request is not valid HTTP: {message or exc}"
    if status >= 500:
        return "internal-error", "something went wrong; it has been logged"
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
    return "-".join(phrase.lower().split()), phrase


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` whose connections use :class:`_Protocol`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The server aiohttp made, made to build our protocol: web.Server has no hook for it.
        server.__class__ = _Server
        return server

    def site(self, host: str, port: int) -> web.TCPSite:
        return web.TCPSite(self, host, port)


def serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, as ``web.run_app`` does, with :class:`Runner`.

    On a signal the application is cleaned up first (its components stop in order), then
    whatever tasks remain are cancelled. OSError when the address cannot be listened on.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, host, port))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            remaining = asyncio.all_tasks(loop)
            for task in remaining:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*remaining, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner = Runner(app, handle_signals=True)
    await runner.setup()
    try:
        await runner.site(host, port).start()
        await asyncio.Event().wait()  # until a signal raises GracefulExit
    finally:
        await runner.cleanup()
