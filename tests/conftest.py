"""Fixtures for the real services the tests talk to: PostgreSQL, Redis and SQLite.

Locally a missing service skips the tests that need it; in CI (``CI=true``) it fails
them, so a broken CI machine can never pass by skipping.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from realtime.store.database import Store

T = TypeVar("T")

PG_HOST = os.environ.get("REALTIME_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("REALTIME_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("REALTIME_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("REALTIME_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REALTIME_TEST_REDIS_PORT", "6379"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# What a real Asterisk 22.10.1 sent and answered (see its README.md): test data in the repository.
ARI_OBSERVED = Path(__file__).resolve().parent / "telephony" / "data" / "ari-observed"


def service_missing(what: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not reachable", pytrace=False)
    pytest.skip(f"{what} not reachable")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _port_open(REDIS_HOST, REDIS_PORT):
        service_missing(f"Redis at {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Base URL (no database) of the PostgreSQL server the tests use."""
    if not _port_open(PG_HOST, PG_PORT):
        service_missing(f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}"


def run_outside_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own in a thread, never touching a test's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pg_admin(sql: str) -> None:
    """Run one statement on the server's maintenance database."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_outside_loop(run())


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"realtime_test_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server}/{name}"
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'realtime.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request) -> str:
    """An empty database of each kind the product supports: the test runs on both."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


# -- migrated databases: migrating costs seconds, so it happens once per run ------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    from realtime.store import migrate

    path = tmp_path_factory.mktemp("template") / "realtime.sqlite3"
    run_outside_loop(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A copy of the migrated SQLite file, the test's own."""
    path = tmp_path / "realtime.sqlite3"
    for suffix in ("", "-wal"):
        source = sqlite_template.with_name(sqlite_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, path.with_name(path.name + suffix))
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def shared_postgres_url(postgres_server: str) -> Iterator[str]:
    """One migrated PostgreSQL database for the whole run.

    Tests sharing it stay independent by working in accounts of their own (the product
    only ever sees its account's rows); creating a database per test costs seconds.
    """
    from realtime.store import migrate

    name = f"realtime_test_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"{postgres_server}/{name}"
        run_outside_loop(migrate.upgrade(url))
        yield url
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(request) -> str:
    """A database at the newest schema, of each kind the product supports."""
    return request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "shared_postgres_url")


@pytest.fixture
async def shared_store(migrated_database_url: str) -> AsyncIterator[Store]:
    """A store on the run's migrated database; tests stay apart in accounts of their own."""
    from realtime.store.database import Store

    store = Store(migrated_database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def unused_port() -> Iterator:
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    yield pick


class RedisServer:
    """A redis-server subprocess that can be killed and started again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: asyncio.subprocess.Process | None = None
        self._output: asyncio.Task | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(10):
            while b"Ready to accept connections" not in (line := await self._process.stdout.readline()):
                if not line:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
        self._output = asyncio.create_task(self._process.stdout.read())  # keep the pipe drained

    async def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
            await self._output


@pytest.fixture
async def redis_server(unused_port) -> AsyncIterator[RedisServer]:
    """A Redis of the test's own, to kill and restart (never the shared one on 6379)."""
    if shutil.which("redis-server") is None:
        service_missing("redis-server (on PATH)")
    server = RedisServer(unused_port())
    await server.start()
    yield server
    await server.kill()


async def make_demo_app(data_dir: Path, **overrides: Any) -> tuple[Any, Any]:
    """A web process's application on a database holding the demo account, as ``realtime
    serve`` creates it: (app, the credentials it would print). ``overrides`` are settings
    (``database_url``, ``redis_url``); by default a SQLite file in ``data_dir``."""
    from realtime.config import load_settings
    from realtime.server import create_app
    from realtime.store import migrate
    from realtime.store.database import Store
    from realtime.store.demo import seed_demo

    settings = load_settings({"data_dir": str(data_dir), "role": "web", **overrides}, environ={})
    await migrate.upgrade(settings.database_url)
    store = Store(settings.database_url)
    try:
        credentials = await seed_demo(store)
    finally:
        await store.close()
    return create_app(settings), credentials


@pytest.fixture
async def demo_app(tmp_path):
    """A web process's application on a fresh SQLite database holding the demo account,
    as ``realtime serve`` creates it: (app, the credentials it would print)."""
    return await make_demo_app(tmp_path)
