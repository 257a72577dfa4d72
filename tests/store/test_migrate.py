from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from realtime.store import migrate
from realtime.store.database import Store, StoreUnavailable
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
    assert await migrate.pending(url) == [head]

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


async def test_unreachable_postgresql_is_store_unavailable(unused_port) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/realtime"
    with pytest.raises(StoreUnavailable, match=r"PostgreSQL at 127\.0\.0\.1"):
        await migrate.upgrade(url)


async def test_unusable_sqlite_path_is_store_unavailable(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite3'}"
    with pytest.raises(StoreUnavailable, match="SQLite file"):
        await migrate.current(url)
