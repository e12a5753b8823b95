"""TimescaleDB detection and the storage layout that depends on it (SPEC §7)."""

from __future__ import annotations

import logging

import asyncpg

from sensorhub.config import Settings

logger = logging.getLogger(__name__)

TIMESCALE_META_KEY = "timescaledb"


async def detect_timescaledb(connection: asyncpg.Connection) -> str | None:
    """Enable TimescaleDB where permitted; return its version, or None on plain PostgreSQL."""
    version = await _installed_version(connection)
    if version is not None:
        return version
    available = await connection.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    if not available:
        return None
    try:
        async with connection.transaction():
            await connection.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except asyncpg.PostgresError as error:
        logger.warning("TimescaleDB is installed but cannot be enabled here: %s", error)
        return None
    return await _installed_version(connection)


async def _installed_version(connection: asyncpg.Connection) -> str | None:
    version = await connection.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    )
    return str(version) if version is not None else None


async def record_storage_mode(connection: asyncpg.Connection, version: str | None) -> None:
    await connection.execute(
        """
        INSERT INTO sensorhub_meta (key, value) VALUES ($1, $2)
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
        """,
        TIMESCALE_META_KEY,
        version or "absent",
    )


async def configure_storage(database_url: str, settings: Settings) -> bool:
    """Detect TimescaleDB and record which storage path this database is on."""
    connection = await asyncpg.connect(database_url)
    try:
        version = await detect_timescaledb(connection)
        await record_storage_mode(connection, version)
    finally:
        await connection.close()
    if version:
        logger.info("TimescaleDB %s detected", version)
    return version is not None
