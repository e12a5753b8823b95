"""Alembic environment: runs migrations over asyncpg under an advisory lock."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from sensorhub.db import locks
from sensorhub.db.schema import metadata


def _run(connection: Connection) -> None:
    connection.execute(
        text("SELECT pg_advisory_xact_lock(:id)"), {"id": locks.advisory_key(locks.MIGRATIONS)}
    )
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = context.config.attributes["sqlalchemy_url"]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("sensorhub migrations run online only")

connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_online())
