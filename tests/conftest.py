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
from collections.abc import AsyncIterator, Iterator

import pytest

PG_HOST = os.environ.get("REALTIME_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("REALTIME_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("REALTIME_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("REALTIME_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REALTIME_TEST_REDIS_PORT", "6379"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


def pg_admin(sql: str) -> None:
    """Run one statement on the server's maintenance database.

    Runs in a thread of its own so it never touches the test's event loop.
    """
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


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
