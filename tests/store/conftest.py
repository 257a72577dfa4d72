"""Migrated databases for the store tests, migrated once per run.

Migrating costs a second or more per database; each test instead gets a copy of a
migrated SQLite file, or the one migrated PostgreSQL database emptied. The migration
tests themselves start from ``empty_database_url``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from realtime.store import migrate
from realtime.store.database import Store
from realtime.store.models import Base
from tests.conftest import pg_admin


def _upgrade(url: str) -> None:
    # In a thread of its own, like pg_admin: never on a test's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate.upgrade(url)).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "realtime.sqlite3"
    _upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    name = f"realtime_template_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        _upgrade(f"{postgres_server}/{name}")
        yield name
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "realtime.sqlite3"
    for suffix in ("", "-wal"):
        source = sqlite_template.with_name(sqlite_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, path.with_name(path.name + suffix))
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def migrated_postgresql_url(postgres_server: str, postgres_template: str) -> str:
    # Emptied, not re-created: CREATE and DROP DATABASE (and TRUNCATE, which makes
    # new files) cost seconds on a busy server; deleting a few rows costs milliseconds.
    url = f"{postgres_server}/{postgres_template}"
    store = Store(url)
    try:
        async with store.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await store.close()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(request) -> str:
    """A database at the newest schema, of each kind the product supports."""
    return request.getfixturevalue(f"migrated_{request.param}_url")


@pytest.fixture
async def store(migrated_database_url: str) -> AsyncIterator[Store]:
    store = Store(migrated_database_url)
    try:
        yield store
    finally:
        await store.close()
