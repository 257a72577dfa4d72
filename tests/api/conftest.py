"""An aiohttp app with a migrated store and ``setup_api``, and two accounts to call it as."""
from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from realtime.api import setup_api
from realtime.app_keys import BUS, SETTINGS, STORE
from realtime.bus import MemoryBus
from realtime.config import Settings, load_settings
from realtime.store.accounts import create_account
from realtime.store.database import Store


@dataclasses.dataclass(frozen=True)
class Credentials:
    account_id: int
    api_key: str
    api_auth: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": basic(self.api_key, self.api_auth)}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Document:
    """The served OpenAPI document, checking answers against it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.templates = [
            (re.compile("^" + re.sub(r"{\w+}", r"[^/]+", path) + "$"), path) for path in document["paths"]
        ]

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for pattern, template in self.templates:
            if pattern.match(path):
                return self.document["paths"][template].get(method.lower())
        return None

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node and len(node) == 1:
            target: Any = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def check(self, method: str, path: str, status: int, content_type: str, body: Any) -> None:
        """The answer is one the document promises: a listed status, and a body of its schema."""
        operation = self.operation(method, path)
        if operation is None:
            assert status in (404, 405), f"{method} {path} is not documented but answered {status}"
            return
        assert str(status) in operation["responses"], f"{method} {path}: {status} is not documented"
        response = self.resolve(operation["responses"][str(status)])
        content = response.get("content", {})
        if content_type == "application/json":
            assert "application/json" in content, f"{method} {path} {status}: JSON not documented"
            schema = {**content["application/json"]["schema"], "components": self.document["components"]}
            jsonschema.validate(body, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        else:
            assert not content or any(content_type.startswith(t.rstrip("*")) for t in content), (
                f"{method} {path} {status}: {content_type} not documented")


class Api:
    """A test client for /v1 acting as one account or another.

    Every answer is checked against the OpenAPI document and must carry the rate-limit
    headers, so each test also keeps the document true."""

    def __init__(self, client: Any, store: Store, alice: Credentials, bob: Credentials) -> None:
        self.client = client
        self.store = store
        self.alice = alice
        self.bob = bob
        self.document: Document | None = None

    async def call(self, method: str, path: str, *, as_: Credentials | None = None,
                   **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        """(status, JSON body or bytes, response); authenticates as alice unless told."""
        kwargs.setdefault("headers", (as_ or self.alice).headers)
        async with self.client.request(method, path, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else await response.read()
        assert "X-RateLimit-Limit" in response.headers, f"{method} {path}: no rate-limit headers"
        if self.document is None:
            async with self.client.get("/v1/openapi.json") as served:
                self.document = Document(await served.json())
        self.document.check(method, response.url.path, response.status, response.content_type, body)
        return response.status, body, response

    async def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        status, body, _ = await self.call(method, path, **kwargs)
        assert status == expected, (status, body)
        return body

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.ok("GET", path, **kwargs)

    async def post(self, path: str, json: Any, **kwargs: Any) -> Any:
        return await self.ok("POST", path, 201, json=json, **kwargs)

    async def patch(self, path: str, json: Any, **kwargs: Any) -> Any:
        return await self.ok("PATCH", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> None:
        await self.ok("DELETE", path, 204, **kwargs)


def api_settings(database_url: str, data_dir: Any, **overrides: Any) -> Settings:
    """Settings for a test app: a limit no test reaches unless it sets one."""
    return load_settings({"database_url": database_url, "data_dir": str(data_dir), "secret_key": "s" * 32,
                          "api_rate_limit": "100000/minute", "api_auth_failure_limit": "100000/minute",
                          **overrides}, environ={})


async def prepare_store(database_url: str) -> tuple[Store, Credentials, Credentials]:
    store = Store(database_url)
    async with store.transaction() as session:
        made = [await create_account(session, name) for name in ("Alice's campaigns", "Bob's campaigns")]
    alice, bob = (Credentials(m.account.id, m.api_key, m.api_auth) for m in made)
    return store, alice, bob


def api_app(store: Store, settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[STORE] = store
    app.cleanup_ctx.append(_memory_bus)
    setup_api(app)
    return app


async def _memory_bus(app: web.Application) -> AsyncIterator[None]:
    # The API tells live sessions about campaign and script edits over the bus.
    bus = MemoryBus()
    await bus.start()
    app[BUS] = bus
    yield
    await bus.close()


@pytest.fixture
async def make_api(aiohttp_client, tmp_path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_api(database_url, **settings)`` -> Api on a migrated database."""
    stores: list[Store] = []

    async def make(database_url: str, **overrides: Any) -> Api:
        store, alice, bob = await prepare_store(database_url)
        stores.append(store)
        client = await aiohttp_client(api_app(store, api_settings(database_url, tmp_path, **overrides)))
        return Api(client, store, alice, bob)

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
async def api(make_api, migrated_sqlite_url) -> Api:
    """The API on SQLite: the full CRUD runs here."""
    return await make_api(migrated_sqlite_url)


@pytest.fixture
async def any_api(make_api, migrated_database_url) -> Api:
    """The API on SQLite and on PostgreSQL: representative tests run on both."""
    return await make_api(migrated_database_url)
