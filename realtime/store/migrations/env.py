"""Alembic environment: runs migrations on the product's async engine.

``realtime.store.migrate`` hands over an open synchronous connection (from
``AsyncConnection.run_sync``) in ``config.attributes["connection"]``; run by the
``alembic`` command instead, the URL comes from ``sqlalchemy.url`` or
``REALTIME_DATABASE_URL``.
"""
from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from realtime.store.database import create_engine
from realtime.store.models import Base
from realtime.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: object, autogen_context) -> str | bool:
    # Migrations must not import the models' Python types: UTCDateTime is a plain
    # timezone-aware DateTime in the database.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("REALTIME_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url or REALTIME_DATABASE_URL")
    return url


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    run_on(connection)
else:
    asyncio.run(run_with_engine(database_url()))
