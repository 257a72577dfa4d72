"""Bad requests get a clear error naming what is wrong, and change nothing."""
from __future__ import annotations

import asyncio
import json

from realtime.api import bodies
from realtime.store.database import Store
from tests.api.conftest import Api, api_app, api_settings, prepare_store


async def test_malformed_json_is_400(api):
    for body in (b"{not json", b"\xff\xfe", b'{"name": "C", "dialer_mode": "power", "acceptable_abandon_rate": NaN}',
                 b"[" * 100_000 + b"]" * 100_000):
        status, answer, _ = await api.call("POST", "/v1/campaigns", data=body,
                                           headers={**api.alice.headers, "Content-Type": "application/json"})
        assert status == 400
        assert answer["error"]["id"] == "malformed-json"


async def test_every_bad_field_is_named_at_once(any_api):
    status, answer, _ = await any_api.call("POST", "/v1/campaigns", json={
        "dialer_mode": "turbo", "calling_hours_start": "25:00", "time_zone": "Mars/Olympus",
        "max_lines": 0, "use_amd": "yes", "acceptable_abandon_rate": 2,
    })
    assert status == 422
    assert answer["error"]["id"] == "invalid"
    assert answer["error"]["details"]["fields"] == {
        "name": "required",
        "dialer_mode": "must be one of preview, power, predictive",
        "calling_hours_start": 'must be a time "HH:MM" (24-hour)',
        "time_zone": "must be an IANA time zone such as America/New_York",
        "max_lines": "must be between 1 and 10000",
        "use_amd": "must be true or false",
        "acceptable_abandon_rate": "must be at most 1",
    }
    assert (await any_api.get("/v1/campaigns"))["total"] == 0


async def test_unknown_and_read_only_fields_are_refused(api):
    status, answer, _ = await api.call("POST", "/v1/campaigns", json={
        "name": "C", "dialer_mode": "power", "dialer_speed": 3, "id": 99, "created_at": "2020-01-01T00:00:00Z",
    })
    assert status == 422
    assert answer["error"]["details"]["fields"] == {
        "dialer_speed": "unknown field", "id": "read-only field", "created_at": "read-only field",
    }


async def test_a_body_that_is_not_an_object_is_422(api):
    campaign = await api.post("/v1/campaigns", {"name": "C", "dialer_mode": "power"})
    status, answer, _ = await api.call("PATCH", f"/v1/campaigns/{campaign['id']}", json=["name"])
    assert status == 422
    assert answer["error"]["details"]["fields"] == {"body": "must be an object"}


async def test_bad_query_parameters_are_400_naming_each(api):
    status, answer, _ = await api.call("GET", "/v1/campaigns", params={"limit": "1000", "page": "x", "active": "maybe"})
    assert status == 400
    assert answer["error"]["id"] == "invalid-parameters"
    assert set(answer["error"]["details"]["parameters"]) == {"limit", "page", "active"}


async def test_unknown_paths_and_methods_answer_json_errors(api):
    status, answer, _ = await api.call("GET", "/v1/nothing-here")
    assert (status, answer["error"]["id"]) == (404, "not-found")
    status, answer, _ = await api.call("PUT", "/v1/campaigns")
    assert (status, answer["error"]["id"]) == (405, "method-not-allowed")
    status, answer, _ = await api.call("GET", "/v1/campaigns/99999999999999999999999")
    assert (status, answer["error"]["id"]) == (404, "not-found")


async def test_text_with_nul_is_refused_not_a_server_error(any_api):
    status, answer, _ = await any_api.call("POST", "/v1/campaigns", json={"name": "a\x00b", "dialer_mode": "power"})
    assert status == 422
    assert answer["error"]["details"]["fields"] == {"name": "must not contain NUL characters"}


async def test_json_routes_want_json(api):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, answer, _ = await api.call("POST", "/v1/campaigns", data=b'{"name": "C", "dialer_mode": "power"}',
                                           headers={**api.alice.headers, "Content-Type": content_type})
        assert (status, answer["error"]["id"]) == (415, "unsupported-media-type"), content_type
    status, _, _ = await api.call("POST", "/v1/campaigns", data=b'{"name": "C", "dialer_mode": "power"}',
                                  headers={**api.alice.headers, "Content-Type": "application/json; charset=utf-8"})
    assert status == 201
    assert (await api.get("/v1/campaigns"))["total"] == 1


async def test_ids_and_paging_take_ascii_digits_only(api):
    await api.post("/v1/campaigns", {"name": "C", "dialer_mode": "power"})
    for path in ("/v1/campaigns/\u0661", "/v1/campaigns/\uff11", "/v1/campaigns/\u00b9"):
        status, answer, _ = await api.call("GET", path)
        assert (status, answer["error"]["id"]) == (404, "not-found"), path
    for params in ({"page": "\u0661"}, {"limit": "\uff15"}, {"page": "1\u0660"}, {"dialer_mode": "power", "limit": " 5"}):
        status, answer, _ = await api.call("GET", "/v1/campaigns", params=params)
        assert (status, answer["error"]["id"]) == (400, "invalid-parameters"), params


async def test_a_body_that_stops_arriving_is_408(api, monkeypatch):
    monkeypatch.setattr(bodies, "BODY_TIMEOUT", 0.5)
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(b"POST /v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: " + api.alice.headers["Authorization"].encode() + b"\r\n"
                     b"Content-Length: 100\r\n\r\n{\"name\": ")
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            answer = json.loads(await reader.readexactly(length))
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    assert answer["error"]["id"] == "request-timeout"
    assert (await api.get("/v1/campaigns"))["total"] == 0


async def test_an_exhausted_database_pool_answers_503_soon_and_recovers(aiohttp_client, tmp_path, migrated_database_url):
    made, alice, _ = await prepare_store(migrated_database_url)
    await made.close()
    store = Store(migrated_database_url, pool_size=2, pool_timeout=0.2)
    api = Api(await aiohttp_client(api_app(store, api_settings(migrated_database_url, tmp_path))), store, alice, alice)
    try:
        await api.get("/v1/campaigns")
        held = [await store.engine.connect() for _ in range(2)]  # every connection busy elsewhere
        try:
            async with asyncio.timeout(5):
                status, answer, response = await api.call("GET", "/v1/campaigns")
            assert (status, answer["error"]["id"]) == (503, "server-busy"), answer
            assert int(response.headers["Retry-After"]) >= 1
        finally:
            for connection in held:
                await connection.close()
        assert (await api.get("/v1/campaigns"))["total"] == 0
    finally:
        await store.close()
