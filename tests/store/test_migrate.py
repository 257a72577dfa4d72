from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from realtime.store import migrate
from realtime.store.database import Store, StoreUnavailable
from realtime.store.migrate import UnknownRevision
from realtime.store.models import Base

MODEL_TABLES = set(Base.metadata.tables)


async def tables(url: str) -> set[str]:
    store = Store(url)
    try:
        async with store.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await store.close()
    return set(names) - {"alembic_version"}


async def test_upgrade_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    url = empty_database_url
    head = await migrate.head()
    assert await migrate.current(url) is None
    assert await migrate.is_behind(url)
    steps = await migrate.pending(url)
    assert steps[0] == "0001" and steps[-1] == head  # every revision, oldest first

    await migrate.upgrade(url)
    assert await migrate.current(url) == head
    assert not await migrate.is_behind(url)
    assert await migrate.pending(url) == []
    assert await tables(url) == MODEL_TABLES

    await migrate.downgrade(url)
    assert await migrate.current(url) is None
    assert await tables(url) == set()

    await migrate.upgrade(url)
    assert await tables(url) == MODEL_TABLES
    assert await migrate.current(url) == head


async def test_migrations_match_the_models(empty_database_url: str) -> None:
    await migrate.upgrade(empty_database_url)
    store = Store(empty_database_url)
    try:
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            ))
    finally:
        await store.close()
    assert diff == []


async def test_two_processes_upgrading_at_once_both_succeed(empty_database_url: str) -> None:
    # As when several servers start together on a new database.
    await asyncio.gather(migrate.upgrade(empty_database_url), migrate.upgrade(empty_database_url))
    assert await migrate.current(empty_database_url) == await migrate.head()
    assert await tables(empty_database_url) == MODEL_TABLES


async def test_a_database_from_a_newer_release_is_reported(empty_database_url: str) -> None:
    await migrate.upgrade(empty_database_url)
    store = Store(empty_database_url)
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await store.close()
    with pytest.raises(UnknownRevision, match="'9999'"):
        await migrate.is_behind(empty_database_url)


async def test_unreachable_postgresql_is_store_unavailable(unused_port) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/realtime"
    with pytest.raises(StoreUnavailable, match=r"PostgreSQL at 127\.0\.0\.1"):
        await migrate.upgrade(url)


async def test_a_file_that_is_no_database_is_store_unavailable(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 1000)
    with pytest.raises(StoreUnavailable, match="SQLite file .*notes.txt"):
        await migrate.current(f"sqlite+aiosqlite:///{path}")
