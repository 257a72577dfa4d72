"""An integrator's numbers source read a page at a time, held to the rules of everything we
fetch for integrators: public addresses, no redirects, a timeout, a size limit."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from realtime.destinations import connector
from realtime.dialer.number_source import SourceFailed, check_url, fetch_page, page_url, parse_page


def test_page_and_limit_replace_any_the_url_had():
    assert page_url("https://crm.example/n?list=7&page=9", 2, 50) == "https://crm.example/n?list=7&page=2&limit=50"


def test_only_https_urls_of_public_addresses_are_sources():
    assert check_url("https://crm.example/numbers") is None
    assert check_url("http://crm.example/numbers") == "must be an https:// URL"
    assert "loopback" in check_url("https://127.0.0.1/numbers")
    assert "private" in check_url("https://10.0.0.7/numbers")
    assert check_url("http://127.0.0.1:8080/numbers", allow_private=True) is None
    assert check_url("ftp://crm.example/x", allow_private=True) == "must be an https:// URL"


def test_a_page_is_an_object_with_phone_numbers_or_an_array():
    assert parse_page(b'{"phone_numbers": ["+12025550142", 12025550143]}') == ["+12025550142", 12025550143]
    assert parse_page(b"[]") == []
    for bad, why in ((b"<html>", "not JSON"), (b'{"numbers": []}', "neither"), (b'"x"', "neither"),
                     (b"\xff\xfe", "not JSON"), (json.dumps(list(range(3))).encode(), "at most 2")):
        with pytest.raises(SourceFailed, match=why):
            parse_page(bad, limit=2)


@pytest.fixture
async def source(aiohttp_server):
    """A numbers source whose path says how it answers."""
    release = asyncio.Event()
    seen: list[dict[str, str]] = []

    async def numbers(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.query))
        kind = request.match_info["kind"]
        if kind == "slow":
            await release.wait()
        if kind == "redirect":
            raise web.HTTPFound("http://10.0.0.7/numbers")
        if kind == "error":
            return web.Response(status=503)
        if kind == "huge":
            return web.Response(body=b"[" + b'"+12025550142",' * 100_000 + b"1]", content_type="application/json")
        return web.json_response({"phone_numbers": [f"+120255501{request.query['page']}0"]})

    app = web.Application()
    app.router.add_get("/{kind}", numbers)
    server = await aiohttp_server(app, host="127.0.0.1")
    async with aiohttp.ClientSession(connector=connector(allow_private=True)) as http:
        yield str(server.make_url("")).rstrip("/"), http, seen
    release.set()


async def test_a_page_is_fetched_with_page_and_limit(source):
    base, http, seen = source
    assert await fetch_page(http, base + "/ok?campaign=4", 3, 25, allow_private=True) == ["+1202555013" + "0"]
    assert seen == [{"campaign": "4", "page": "3", "limit": "25"}]


@pytest.mark.parametrize(("kind", "why"), [
    ("redirect", "answered a redirect (HTTP 302) to 'http://10.0.0.7/numbers'; redirects are not followed"),
    ("error", "answered HTTP 503"),
    ("huge", "the page is larger than 1048576 bytes"),
    ("slow", "no answer within 0.2 seconds"),
])
async def test_a_source_that_misbehaves_fails_with_a_reason(source, kind, why):
    base, http, _ = source
    with pytest.raises(SourceFailed) as failed:
        await fetch_page(http, f"{base}/{kind}", 1, 50, allow_private=True, timeout=0.2)
    assert failed.value.reason == why


async def test_private_addresses_are_refused_before_any_request(source):
    base, _, seen = source
    async with aiohttp.ClientSession(connector=connector()) as http:
        with pytest.raises(SourceFailed, match="numbers URL must be an https:// URL"):
            await fetch_page(http, base + "/ok", 1, 50)
        with pytest.raises(SourceFailed, match="127.0.0.1 is a loopback address"):
            await fetch_page(http, base.replace("http://", "https://") + "/ok", 1, 50)
        with pytest.raises(SourceFailed, match="localhost resolves to a loopback address"):
            await fetch_page(http, "https://localhost:1/ok", 1, 50, allow_private=False)
    assert seen == []
