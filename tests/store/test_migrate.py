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


async def test_usernames_two_accounts_share_are_told_apart_when_they_become_the_log_in(empty_database_url: str) -> None:
    # Before 0003 a username was unique in its account only; from 0003 /login takes it alone.
    url = empty_database_url
    await migrate.upgrade(url, "0002")
    store = Store(url)
    try:
        async with store.engine.begin() as conn:
            for account_id in (1, 2, 3):
                await conn.execute(text(
                    "INSERT INTO accounts (id, name, api_key, api_secret, record_calls, abandonment_limit, time_zone,"
                    " created_at) VALUES (:id, 'A', :key, 's', false, 0.03, 'UTC', CURRENT_TIMESTAMP)"),
                    {"id": account_id, "key": f"ak_{account_id}"})
            for caller_id, account_id, username in ((1, 1, "ann"), (2, 2, "ann"), (3, 3, "ann"), (4, 2, "bob"),
                                                    (5, 1, "ann-2")):
                await conn.execute(text(
                    "INSERT INTO callers (id, account_id, name, username, phones_only, pin, active, created_at)"
                    " VALUES (:id, :account, '', :username, false, :pin, true, CURRENT_TIMESTAMP)"),
                    {"id": caller_id, "account": account_id, "username": username, "pin": f"{caller_id:06d}"})
    finally:
        await store.close()

    await migrate.upgrade(url)
    store = Store(url)
    try:
        async with store.engine.connect() as conn:
            rows = dict((await conn.execute(text("SELECT id, username FROM callers"))).all())
    finally:
        await store.close()
    # The oldest keeps the name; the others get their account's number, made unique if need be.
    assert rows[1] == "ann" and rows[4] == "bob" and rows[5] == "ann-2" and rows[3] == "ann-3"
    assert rows[2] not in ("ann", "ann-2") and rows[2].startswith("ann-2")
    assert len(set(rows.values())) == len(rows)

    await migrate.downgrade(url, "0002")  # and back, keeping the new names
    assert await migrate.current(url) == "0002"
