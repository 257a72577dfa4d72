"""Too many requests per API key get 429, and every answer says where the limit stands."""
from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.api.conftest import Api, Document, api_app, api_settings


async def test_the_limit_is_counted_per_key_and_announced(make_api, migrated_sqlite_url):
    api = await make_api(migrated_sqlite_url, api_rate_limit="3/minute")
    remaining = []
    for _ in range(3):
        status, _, response = await api.call("GET", "/v1/campaigns")
        assert status == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]

    status, body, response = await api.call("GET", "/v1/campaigns")
    assert status == 429
    assert body["error"]["id"] == "rate-limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert response.headers["X-RateLimit-Remaining"] == "0"

    # Another key has its own allowance.
    status, _, _ = await api.call("GET", "/v1/campaigns", as_=api.bob)
    assert status == 200


async def test_a_refused_request_changes_nothing(make_api, migrated_sqlite_url):
    api = await make_api(migrated_sqlite_url, api_rate_limit="1/minute")
    await api.post("/v1/campaigns", {"name": "First", "dialer_mode": "power"})
    status, _, _ = await api.call("POST", "/v1/campaigns", json={"name": "Second", "dialer_mode": "power"})
    assert status == 429
    listed = await api.get("/v1/campaigns", as_=api.bob)
    assert listed["total"] == 0


@pytest.mark.redis
async def test_processes_sharing_redis_share_the_limit(make_api, migrated_sqlite_url, redis_url, tmp_path):
    # Each test's accounts have fresh keys, so earlier runs' counts in Redis do not matter.
    first = await make_api(migrated_sqlite_url, api_rate_limit="4/minute", redis_url=redis_url)
    second_app = api_app(first.store, api_settings(migrated_sqlite_url, tmp_path, api_rate_limit="4/minute",
                                                   redis_url=redis_url))
    async with TestClient(TestServer(second_app)) as client:
        second = Api(client, first.store, first.alice, first.bob)
        # Fetched as bob, whose key is fresh: fetched without one, it would count per address,
        # which every run (and every parallel run) on this machine shares in Redis.
        async with client.get("/v1/openapi.json", headers=first.bob.headers) as served:
            first.document = second.document = Document(await served.json())
        statuses = []
        for api in (first, second, first, second, first, second):
            status, _, response = await api.call("GET", "/v1/campaigns")
            statuses.append(status)
        assert statuses == [200, 200, 200, 200, 429, 429]
        assert response.headers["Retry-After"]
