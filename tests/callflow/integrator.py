"""The integrator's side of the call API, for the live tests: their server (a real aiohttp
server) receiving call-state notifications and serving numbers pages, and their REST client."""
from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from realtime.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature

TIMEOUT = 15.0


class Integrator:
    """Receives notifications at ``/calls/:id/callers/:caller_id/state_change`` (signature
    checked, each delivery kept once) and serves ``/numbers`` a page at a time.

    ``failing`` deliveries in a row are answered 500 (a receiver that fails, then recovers);
    ``numbers_mode`` makes the numbers source misbehave: ``slow`` (never answers), ``garbage``,
    ``redirect`` (to a private address)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []  # notification data, in the order they arrived
        self.paths: dict[int, str] = {}  # delivery id -> the path it was POSTed to
        self.refused = 0  # deliveries answered with an error
        self.failing = 0
        self.bad_signatures = 0
        self.pages: list[list[Any]] = []
        self.numbers_mode = "ok"
        self.numbers_requests: list[dict[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self._changed = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/calls/{call}/callers/{caller}/state_change", self._notification)
        self.app.router.add_get("/numbers", self._numbers)
        self.url = ""

    async def start(self, aiohttp_server: Callable[..., Any]) -> Integrator:
        server = await aiohttp_server(self.app, host="127.0.0.1")
        self.url = str(server.make_url("")).rstrip("/")
        return self

    @property
    def call_state_url(self) -> str:
        return self.url + "/calls/:id/callers/:caller_id/state_change"

    @property
    def numbers_url(self) -> str:
        return self.url + "/numbers"

    async def _notification(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.failing > 0:
            self.failing -= 1
            self.refused += 1
            return web.Response(status=500, text="down for maintenance")
        envelope = json.loads(body)
        delivery = int(request.headers[DELIVERY_HEADER])
        async with self._changed:
            if delivery not in self.paths:  # at least once: a retry of one received is ignored
                self.paths[delivery] = request.path
                self.received.append({**envelope["data"], "_envelope": envelope})
                self._changed.notify_all()
        return web.Response(status=204)

    async def _numbers(self, request: web.Request) -> web.Response:
        self.numbers_requests.append(dict(request.query))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.numbers_mode == "slow":
                await self.release.wait()
            if self.numbers_mode == "garbage":
                return web.Response(text="<html>not numbers</html>", content_type="text/html")
            if self.numbers_mode == "redirect":
                raise web.HTTPFound("http://10.0.0.7/numbers")
            page = int(request.query["page"])
            numbers = self.pages[page - 1] if page <= len(self.pages) else []
            return web.json_response({"phone_numbers": numbers})
        finally:
            self.in_flight -= 1
            async with self._changed:
                self._changed.notify_all()

    # -- waiting for what the tests expect ------------------------------------------------------
    async def until(self, check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        """Wait until ``check()`` is truthy (re-checked as notifications arrive); its value."""
        async def wait() -> Any:
            async with self._changed:
                while not (value := check()):
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout} s; received {self.summary()}") from None

    async def next(self, event: str, **match: Any) -> dict[str, Any]:
        """The first notification ``event`` with the given fields (checked again as more arrive)."""
        return await self.until(lambda: next((n for n in self.received if n["event"] == event and all(
            n.get(k) == v for k, v in match.items())), None), f"{event} {match or ''}")

    def of_call(self, call_id: str) -> list[str]:
        return [n["event"] for n in self.received if n["call_id"] == call_id]

    def of_caller(self, reference: str) -> list[str]:
        return [n["event"] for n in self.received if n["caller_id"] == reference and n["call_id"] is None]

    def of_job(self) -> list[str]:
        return [n["event"] for n in self.received if n["caller_id"] is None and n["call_id"] is None]

    def calls(self) -> dict[str, list[str]]:
        by_call: dict[str, list[str]] = collections.defaultdict(list)
        for n in self.received:
            if n["call_id"] is not None:
                by_call[n["call_id"]].append(n["event"])
        return dict(by_call)

    def summary(self) -> list[tuple[Any, ...]]:
        return [(n["event"], n["call_id"], n["caller_id"]) for n in self.received]


class CallApi:
    """The integrator's REST client for /v1/call."""

    def __init__(self, url: str, api_key: str, api_auth: str) -> None:
        self.url = url
        self.headers = {"Authorization": aiohttp.encode_basic_auth(api_key, api_auth)}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=self.headers) as http:
            async with http.request(method, self.url + path, **kwargs) as response:
                body = await response.json() if response.content_type == "application/json" else await response.text()
                return response.status, body

    async def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, **kwargs)
        assert status == expected, (method, path, status, body)
        return body

    async def start_job(self, **params: Any) -> dict[str, Any]:
        return await self.ok("POST", "/v1/call", 201, json=params)

    async def add_caller(self, job_id: int, reference: str, **fields: Any) -> dict[str, Any]:
        return await self.ok("POST", f"/v1/call/{job_id}/callers", 201, json={"caller_id": reference, **fields})

    async def command(self, job_id: int, reference: str, command: str, body: dict | None = None) -> dict[str, Any]:
        return await self.ok("POST", f"/v1/call/{job_id}/callers/{reference}/{command}", json=body or {})

    async def job(self, job_id: int) -> dict[str, Any]:
        return await self.ok("GET", f"/v1/call/{job_id}")
