"""Schema migrations: bring a database to the models' schema, or tell how far behind it is.

Alembic's commands are synchronous; they run on the product's async engine through
``AsyncConnection.run_sync``, and need no ``alembic.ini`` on disk, so they work from
an installed package.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from realtime.store.database import Store

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")

T = TypeVar("T")

# Any constant will do: the same in every process migrating this database.
_PG_LOCK_KEY = 0x6D69677261746521  # "migrate!"


class UnknownRevision(Exception):
    """The database was migrated by a version of the product that this one does not know."""

    error_id = "unknown-schema-revision"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code; ``connection`` is the one env.py migrates."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@asynccontextmanager
async def _connected(url: str, *, exclusive: bool = False) -> AsyncIterator[AsyncConnection]:
    """One connection in one transaction; StoreUnavailable if the database cannot be reached.

    ``exclusive``: one migrating process at a time, so servers starting together on a
    new database do not both create the tables.
    """
    store = Store(url)
    sqlite_file = make_url(store.url).database if store.dialect == "sqlite" else None
    async with AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        if exclusive and sqlite_file:
            # Before connecting at all: a second connection opening the file while the first
            # migrates can be refused outright ("database is locked") instead of waiting.
            await stack.enter_async_context(_file_lock(f"{sqlite_file}.migrate-lock"))
            _sqlite_immediate_transactions(store.engine)
        await store.check()
        async with store.engine.begin() as connection:
            if exclusive and store.dialect == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield connection


@asynccontextmanager
async def _file_lock(path: str) -> AsyncIterator[None]:
    """An exclusive OS lock on ``path``: one migrating process (or task) at a time."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _sqlite_immediate_transactions(engine: AsyncEngine) -> None:
    # The sqlite3 module commits DDL statement by statement; beginning the transaction
    # ourselves makes a migration all-or-nothing, and IMMEDIATE takes the write lock
    # up front, so a second migrating process waits instead of failing.
    @event.listens_for(engine.sync_engine, "connect")
    def _driver_autocommit(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        # Batch mode rebuilds a table by copying it and dropping the original; with
        # foreign keys on, that drop would cascade-delete the rows that point at it.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def _run(url: str, work: Callable[[Connection], T], *, exclusive: bool = False) -> T:
    async with _connected(url, exclusive=exclusive) as connection:
        return await connection.run_sync(work)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (all the way by default)."""
    logger.info("upgrading database schema to %s", revision)
    await _run(url, lambda conn: command.upgrade(alembic_config(conn), revision), exclusive=True)


async def downgrade(url: str, revision: str = "base") -> None:
    """Migrate down to ``revision``: "base" drops every table, "-1" undoes one step."""
    logger.info("downgrading database schema to %s", revision)
    await _run(url, lambda conn: command.downgrade(alembic_config(conn), revision), exclusive=True)


async def current(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    return await _run(url, lambda conn: MigrationContext.configure(conn).get_current_revision())


async def head() -> str:
    """The newest revision this code ships."""
    revision = scripts().get_current_head()
    assert revision is not None, "the package ships no migrations"
    return revision


async def pending(url: str) -> list[str]:
    """Revisions an upgrade would apply, oldest first."""
    at = await current(url)
    try:
        steps = list(scripts().iterate_revisions(await head(), at))
    except RevisionError as exc:
        raise UnknownRevision(
            f"the database schema is at revision {at!r}, which this version does not ship "
            "(was it migrated by a newer release?)"
        ) from exc
    return [step.revision for step in reversed(steps)]


async def is_behind(url: str) -> bool:
    return bool(await pending(url))
