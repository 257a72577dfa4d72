"""How the application is served: what aiohttp answers before any handler runs (headers too
large, a request that is not HTTP) is JSON in the API's error shape, and a client that never
finishes its headers is not waited for."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from yarl import URL

from realtime import app_keys
from realtime.store.accounts import create_account
from realtime.store.database import Store

from realtime.config import load_settings
from realtime.http_server import Runner
from realtime.server import create_app
from realtime.store import migrate


@pytest.fixture
async def serve(tmp_path, unused_port) -> AsyncIterator[Callable[..., Any]]:
    """``await serve(**settings)``: a web process served as ``realtime serve`` serves it (not as
    aiohttp's test server does); its runner and its base URL."""
    runners: list[Runner] = []

    async def start(**overrides: Any) -> tuple[Runner, str]:
        settings = load_settings({"data_dir": str(tmp_path), "role": "web", **overrides}, environ={})
        await migrate.upgrade(settings.database_url)
        runner = Runner(create_app(settings))
        await runner.setup()
        runners.append(runner)
        port = unused_port()
        await runner.site("127.0.0.1", port).start()
        return runner, f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def served(serve) -> tuple[str, int]:
    _, url = await serve(http_idle_timeout=1)
    return URL(url).host, URL(url).port


async def exchange(host: str, port: int, request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """Send raw bytes; the status line, headers and body of the answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            status = await reader.readline()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in head.split("\r\n") if line)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
    finally:
        writer.close()
    return status, headers, body


async def test_headers_over_the_limit_answer_json(served):
    status, headers, body = await exchange(*served, b"GET /v1/campaigns HTTP/1.1\r\nHost: x\r\nX-Big: "
                                           + b"a" * 20_000 + b"\r\n\r\n")
    assert status.split()[1] == b"431", status
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["id"] == "headers-too-large"


async def test_a_request_that_is_not_http_answers_json(served):
    status, headers, body = await exchange(*served, b"GET /v1 HTTP/1.1\r\nHost x\r\n\r\n")
    assert status.split()[1] == b"400", status
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["id"] == "malformed-request"


async def test_a_client_that_never_finishes_its_headers_is_let_go(served):
    reader, writer = await asyncio.open_connection(*served)
    try:
        writer.write(b"GET /v1 HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        async with asyncio.timeout(10):  # http_idle_timeout is 1 s here
            assert await reader.read() == b""
    finally:
        writer.close()


@pytest.mark.postgres
async def test_a_request_whose_client_has_gone_stops_and_frees_its_connection(serve, postgres_url):
    runner, url = await serve(database_url=postgres_url)
    store = runner.app[app_keys.STORE]
    outside = Store(postgres_url)
    try:
        async with outside.transaction() as session:
            made = await create_account(session, "Gone clients")
        auth = {"Authorization": aiohttp.encode_basic_auth(made.api_key, made.api_auth)}
        async with aiohttp.ClientSession(url, headers=auth) as http:
            async with http.post("/v1/campaigns", json={"name": "Calls", "dialer_mode": "power"}) as response:
                campaign = await response.json()
            async with outside.transaction() as session:
                # Hold the campaign's row: the rename below waits for it, with its client.
                await session.execute(text("SELECT id FROM campaigns WHERE id = :id FOR UPDATE"),
                                      {"id": campaign["id"]})
                with pytest.raises(TimeoutError):
                    await http.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "Renamed"},
                                     timeout=aiohttp.ClientTimeout(total=1))
                async with asyncio.timeout(10):  # the server gives the request up, and its connection
                    while store.engine.pool.checkedout():
                        await asyncio.sleep(0.05)
            async with http.get(f"/v1/campaigns/{campaign['id']}") as response:
                assert (await response.json())["name"] == "Calls"
    finally:
        await outside.close()
