"""Too many requests per API key get 429, and every answer says where the limit stands."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from realtime.api.ratelimit import RateLimiter
from tests.api.conftest import Api, Document, api_app, api_settings, basic


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


async def test_wrong_secrets_do_not_use_up_the_keys_allowance(make_api, migrated_sqlite_url):
    api = await make_api(migrated_sqlite_url, api_rate_limit="3/minute")
    wrong = {"Authorization": basic(api.alice.api_key, "not-the-secret")}
    for _ in range(10):
        status, _, _ = await api.call("GET", "/v1/campaigns", headers=wrong)
        assert status == 401
    statuses = [(await api.call("GET", "/v1/campaigns"))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


async def test_failed_authentication_is_limited_per_address(make_api, migrated_sqlite_url):
    api = await make_api(migrated_sqlite_url, api_auth_failure_limit="5/minute")
    made_up = [{"Authorization": basic(f"ak_nobody{n}", "x")} for n in range(5)]
    for headers in made_up:
        status, _, response = await api.call("GET", "/v1/campaigns", headers=headers)
        assert status == 401
    assert response.headers["X-RateLimit-Limit"] == "5" and response.headers["X-RateLimit-Remaining"] == "0"
    for attempt in ({"headers": {"Authorization": basic("ak_nobody9", "x")}},
                    {"headers": {"Authorization": basic(api.alice.api_key, "wrong")}},
                    {"headers": {}, "params": {"api_key": "ak_other", "api_auth": "x"}}):
        status, body, response = await api.call("GET", "/v1/campaigns", **attempt)
        assert (status, body["error"]["id"]) == (429, "too-many-failed-authentications"), attempt
        assert 1 <= int(response.headers["Retry-After"]) <= 60


class HungRedis:
    """A server in front of the real Redis that accepts connections and, until released,
    never answers them: a Redis that is hung, not dead."""

    def __init__(self, redis_url: str) -> None:
        self.target = URL(redis_url)
        self.released = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"redis://{host}:{port}/0"

    async def __aenter__(self) -> HungRedis:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self.tasks.add(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.released.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target.host, self.target.port)
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        finally:
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.mark.redis
async def test_a_hung_redis_is_given_up_at_once_and_limits_are_kept_in_the_process(
        make_api, migrated_sqlite_url, redis_url, caplog):
    async with HungRedis(redis_url) as hung:
        api = await make_api(migrated_sqlite_url, api_rate_limit="3/minute", redis_url=hung.url)
        await api.get("/v1")  # the first request: Redis does not answer it
        async with asyncio.timeout(5):  # a Redis client without a timeout would wait for ever
            statuses = [(await api.call("GET", "/v1/campaigns"))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
    limiter_records = [r for r in caplog.records if r.name == "realtime.api.ratelimit"]
    assert [r.levelname for r in limiter_records] == ["WARNING"], [r.getMessage() for r in limiter_records]
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.redis
async def test_limits_are_shared_again_once_redis_answers(redis_url, caplog):
    caplog.set_level(logging.INFO, logger="realtime.api.ratelimit")
    now = [1000.0]
    identity = f"key:ak_{uuid.uuid4().hex}"
    async with HungRedis(redis_url) as hung:
        limiter = RateLimiter("5/minute", hung.url, timeout=0.2, retry_interval=10, clock=lambda: now[0])
        try:
            assert (await limiter.hit(identity)).remaining == 4  # counted here: Redis does not answer
            hung.released.set()
            assert (await limiter.hit(identity)).remaining == 3  # not asked again before retry_interval
            now[0] += 11
            assert (await limiter.hit(identity)).remaining == 4  # Redis's count: the first hit it has seen
            assert (await limiter.hit(identity)).remaining == 3
        finally:
            await limiter.close()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "realtime.api.ratelimit"]
    assert [level for level, _ in messages] == ["WARNING", "INFO"], messages
