"""The store: one async SQLAlchemy engine and its sessions, on SQLite or PostgreSQL."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from realtime.health import ComponentHealth, Status

logger = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The database cannot be reached or used; the message says which and where."""

    error_id = "store-unavailable"


def async_url(url: str) -> str:
    """Pick the async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def describe(url: str) -> str:
    """Where the database is, for messages: never includes a password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


POOL_SIZE = 20
POOL_TIMEOUT = 3.0


def create_engine(url: str, *, pool_size: int = POOL_SIZE, pool_timeout: float = POOL_TIMEOUT,
                  **kwargs: Any) -> AsyncEngine:
    """An engine holding at most ``pool_size`` connections; a checkout that finds none free
    waits ``pool_timeout`` seconds, then raises sqlalchemy.exc.TimeoutError (the API answers
    503): better a quick "busy, retry" than requests queueing behind a saturated database."""
    url = async_url(url)
    pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout}
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **pool, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """Owns the engine; hands out sessions; knows whether the database answers."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = async_url(url)
        self.engine = create_engine(self.url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._status = ComponentHealth(Status.STARTING)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def check(self, timeout: float = 5.0) -> None:
        """One round trip; raises StoreUnavailable saying what and where."""
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
            self._status = ComponentHealth(Status.DOWN, reason)
            raise StoreUnavailable(f"cannot use the database ({describe(self.url)}): {reason}") from exc
        self._status = ComponentHealth(Status.UP, describe(self.url))

    def health(self) -> ComponentHealth:
        return self._status

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
