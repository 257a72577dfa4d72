"""Schema migrations: bring a database to the models' schema, or tell how far behind it is.

Alembic's commands are synchronous; they run on the product's async engine through
``AsyncConnection.run_sync``, and need no ``alembic.ini`` on disk, so they work from
an installed package.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from realtime.store.database import Store

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")

T = TypeVar("T")


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
async def _connected(url: str) -> AsyncIterator[AsyncConnection]:
    """One connection in one transaction; StoreUnavailable if the database cannot be reached."""
    store = Store(url)
    try:
        await store.check()
        async with store.engine.begin() as connection:
            yield connection
    finally:
        await store.close()


async def _run(url: str, work: Callable[[Connection], T]) -> T:
    async with _connected(url) as connection:
        return await connection.run_sync(work)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (all the way by default)."""
    logger.info("upgrading database schema to %s", revision)
    await _run(url, lambda conn: command.upgrade(alembic_config(conn), revision))


async def downgrade(url: str, revision: str = "base") -> None:
    """Migrate down to ``revision``: "base" drops every table, "-1" undoes one step."""
    logger.info("downgrading database schema to %s", revision)
    await _run(url, lambda conn: command.downgrade(alembic_config(conn), revision))


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
