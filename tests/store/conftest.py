"""Migrated databases for the store tests: a copy of the migrated SQLite file, or the
run's migrated PostgreSQL database emptied. The migration tests start from
``empty_database_url``.
"""
from __future__ import annotations


import pytest

from realtime.store.database import Store
from realtime.store.models import Base


@pytest.fixture
async def migrated_postgresql_url(shared_postgres_url: str) -> str:
    """The shared migrated database emptied: store tests count every row in a table.

    Emptied, not re-created: CREATE and DROP DATABASE (and TRUNCATE, which makes new
    files) cost seconds on a busy server; deleting a few rows costs milliseconds.
    """
    url = shared_postgres_url
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
    """As the shared fixture, but the PostgreSQL database starts empty."""
    return request.getfixturevalue(f"migrated_{request.param}_url")


@pytest.fixture
def store(shared_store: Store) -> Store:
    return shared_store  # on this folder's migrated_database_url: PostgreSQL starts empty
