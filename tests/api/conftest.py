"""An aiohttp app with a migrated store and ``setup_api``, and two accounts to call it as."""
from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from realtime.api import setup_api
from realtime.app_keys import SETTINGS, STORE
from realtime.config import Settings, load_settings
from realtime.store.accounts import create_account
from realtime.store.database import Store
from realtime.store.migrate import upgrade


@dataclasses.dataclass(frozen=True)
class ApiSettings(Settings):
    # Until config.py has the setting, tests carry it themselves.
    api_rate_limit: str = "100000/minute"


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


class Api:
    """A test client for /v1 acting as one account or another."""

    def __init__(self, client: Any, store: Store, alice: Credentials, bob: Credentials) -> None:
        self.client = client
        self.store = store
        self.alice = alice
        self.bob = bob

    async def call(self, method: str, path: str, *, as_: Credentials | None = None,
                   **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        """(status, JSON body or None, response); authenticates as alice unless told."""
        kwargs.setdefault("headers", (as_ or self.alice).headers)
        async with self.client.request(method, path, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else await response.read()
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


def api_settings(database_url: str, data_dir: Any, **overrides: Any) -> ApiSettings:
    base = load_settings({"database_url": database_url, "data_dir": str(data_dir),
                          "secret_key": "s" * 32}, environ={})
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(Settings)} | overrides
    return ApiSettings(**values)


async def prepare_store(database_url: str) -> tuple[Store, Credentials, Credentials]:
    await upgrade(database_url)
    store = Store(database_url)
    async with store.transaction() as session:
        made = [await create_account(session, name) for name in ("Alice's campaigns", "Bob's campaigns")]
    alice, bob = (Credentials(m.account.id, m.api_key, m.api_auth) for m in made)
    return store, alice, bob


def api_app(store: Store, settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[STORE] = store
    setup_api(app)
    return app


@pytest.fixture
def make_api(aiohttp_client, tmp_path) -> Callable[..., Any]:
    """``await make_api(database_url, **settings)`` -> Api on a fresh migrated database."""
    stores: list[Store] = []

    async def make(database_url: str, **overrides: Any) -> Api:
        store, alice, bob = await prepare_store(database_url)
        stores.append(store)
        client = await aiohttp_client(api_app(store, api_settings(database_url, tmp_path, **overrides)))
        return Api(client, store, alice, bob)

    yield make


@pytest.fixture
async def api(make_api, sqlite_url) -> AsyncIterator[Api]:
    """The API on SQLite: the full CRUD runs here."""
    api = await make_api(sqlite_url)
    yield api
    await api.store.close()


@pytest.fixture
async def any_api(make_api, empty_database_url) -> AsyncIterator[Api]:
    """The API on SQLite and on PostgreSQL: representative tests run on both."""
    api = await make_api(empty_database_url)
    yield api
    await api.store.close()
