"""SQL for the module endpoints (asyncpg, bound parameters only: module ids come from URLs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from sensorhub.db.schema import API_MODULE_TABLES, MODULE_TABLES
from sensorhub.modules.devices.configuration import Shadow, load_shadow

DEFAULT_ONLINE_WINDOW_S = 300
"""A module without sensor configuration is online when seen within the last 5 minutes."""

ROLLUP_TABLES = (
    "measurements_hourly_rollup",
    "measurements_minute_rollup",
    "measurements_rollup_dirty",
)
"""Plain-PostgreSQL rollup tables (created by the storage migration), deleted with a module."""

_ONLINE = f"""
    (s.last_seen IS NOT NULL AND s.last_seen >= now() - make_interval(secs => coalesce(
        3 * (SELECT max(c.interval_s) FROM sensor_config c WHERE c.module_id = s.module_id),
        {DEFAULT_ONLINE_WINDOW_S})))
"""

MODULES_ONLINE = f"SELECT s.module_id, {_ONLINE} AS online FROM device_system_status s"
"""Every module with whether it is inside its online window (the rule of `GET /api/modules`)."""


def _recent_measured_types(timescale: bool) -> str:
    """Sensor types a module measured in the last day.

    Plain PostgreSQL: a skip scan over (module_id, sensor_type, time), one index probe per type
    instead of reading the module's rows, then one probe each for a reading in the last day.
    TimescaleDB: the hourly continuous aggregate (real-time, so it includes what arrived since its
    last refresh); a skip scan there probes every chunk, compressed ones included, and took
    0.5 s for 10 modules over 26M rows.
    """
    if timescale:
        return """
    SELECT DISTINCT h.sensor_type FROM measurements_hourly h
    WHERE h.module_id = s.module_id AND h.bucket >= now() - interval '1 day'
"""
    return """
    WITH RECURSIVE types(sensor_type) AS (
        SELECT min(m.sensor_type) FROM measurements m WHERE m.module_id = s.module_id
        UNION ALL
        SELECT (SELECT min(m.sensor_type) FROM measurements m
                WHERE m.module_id = s.module_id AND m.sensor_type > types.sensor_type)
        FROM types WHERE types.sensor_type IS NOT NULL
    )
    SELECT t.sensor_type FROM types t
    WHERE t.sensor_type IS NOT NULL AND EXISTS (
        SELECT 1 FROM measurements m
        WHERE m.module_id = s.module_id AND m.sensor_type = t.sensor_type
          AND m.time >= now() - interval '1 day')
"""


def _list_modules(timescale: bool) -> str:
    return f"""
SELECT s.module_id, s.name, s.module_type, s.last_seen, {_ONLINE} AS online,
       (SELECT zm.zone_id::text FROM zone_modules zm WHERE zm.module_id = s.module_id) AS zone_id,
       ARRAY(
           SELECT sensor_type FROM sensor_status WHERE module_id = s.module_id
           UNION SELECT sensor_type FROM sensor_config WHERE module_id = s.module_id
           UNION ({_recent_measured_types(timescale)})
           ORDER BY 1
       ) AS sensors
FROM device_system_status s
ORDER BY s.module_id
"""


# The module's sensor types by skip scan over the (module_id, sensor_type, time) index: one probe
# per type instead of reading every row of the module. Binds the module id as $1.
MEASURED_TYPES = """
WITH RECURSIVE types(sensor_type) AS (
    SELECT min(sensor_type) FROM measurements WHERE module_id = $1
    UNION ALL
    SELECT (SELECT min(m.sensor_type) FROM measurements m
            WHERE m.module_id = $1 AND m.sensor_type > types.sensor_type)
    FROM types WHERE types.sensor_type IS NOT NULL
)
"""

LIST_MODULES = {False: _list_modules(False), True: _list_modules(True)}

SYSTEM_STATUS = f"""
SELECT s.*, {_ONLINE} AS online, z.name AS zone_name, coalesce(p.preferences, '{{}}') AS preferences
FROM device_system_status s
LEFT JOIN zone_modules zm ON zm.module_id = s.module_id
LEFT JOIN zones z ON z.id = zm.zone_id
LEFT JOIN module_preferences p ON p.module_id = s.module_id
WHERE s.module_id = $1
"""


@dataclass(frozen=True)
class StatusRows:
    system: asyncpg.Record
    hardware: asyncpg.Record | None
    sensors: list[asyncpg.Record]
    shadow: Shadow


async def list_modules(pool: asyncpg.Pool, *, timescale: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(LIST_MODULES[timescale])
    return rows


async def module_exists(connection: asyncpg.Connection | asyncpg.Pool, module_id: str) -> bool:
    found = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM device_system_status WHERE module_id = $1)", module_id
    )
    return bool(found)


async def module_status(pool: asyncpg.Pool, module_id: str) -> StatusRows | None:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        system = await connection.fetchrow(SYSTEM_STATUS, module_id)
        if system is None:
            return None
        hardware = await connection.fetchrow(
            "SELECT * FROM device_hardware WHERE module_id = $1", module_id
        )
        sensors = await connection.fetch(
            "SELECT * FROM sensor_status WHERE module_id = $1 ORDER BY sensor_type", module_id
        )
        shadow = await load_shadow(connection, module_id)
    return StatusRows(system, hardware, sensors, shadow)


UPDATE_PREFERENCES = """
INSERT INTO module_preferences AS p (module_id, preferences, updated_at)
VALUES ($1, $2::jsonb, now())
ON CONFLICT (module_id) DO UPDATE
SET preferences = p.preferences || EXCLUDED.preferences, updated_at = now()
RETURNING preferences
"""


async def update_preferences(
    pool: asyncpg.Pool, module_id: str, preferences: str
) -> dict[str, Any] | None:
    """Merge `preferences` (JSON object text; top-level keys replace); None if unknown."""
    async with pool.acquire() as connection, connection.transaction():
        if not await module_exists(connection, module_id):
            return None
        merged = await connection.fetchval(UPDATE_PREFERENCES, module_id, preferences)
    result: dict[str, Any] = json.loads(merged)
    return result


# Per sensor type (skip scan) and hardware id: how many readings, the oldest and newest.
STORAGE_COUNTS = f"""
{MEASURED_TYPES}
SELECT t.sensor_type, c.hardware_id, c.rows, c.oldest, c.newest FROM types t
CROSS JOIN LATERAL (
    SELECT m.hardware_id, count(*) AS rows, min(m.time) AS oldest, max(m.time) AS newest
    FROM measurements m WHERE m.module_id = $1 AND m.sensor_type = t.sensor_type
    GROUP BY m.hardware_id
) c
WHERE t.sensor_type IS NOT NULL
"""

BYTES_PER_ROW = """
SELECT CASE WHEN c.reltuples > 0 THEN pg_total_relation_size(c.oid) / c.reltuples END
FROM pg_class c WHERE c.oid = 'measurements'::regclass
"""
DEFAULT_BYTES_PER_ROW = 100
"""Used before PostgreSQL has statistics for `measurements` (the seed's fixed estimate)."""


@dataclass(frozen=True)
class StorageRows:
    counts: list[asyncpg.Record]
    bytes_per_row: float
    shadow: Shadow


async def module_storage(pool: asyncpg.Pool, module_id: str) -> StorageRows | None:
    """Exact reading counts per series (index-only scans: proportional to the module's rows)."""
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        if not await module_exists(connection, module_id):
            return None
        await connection.execute("SET LOCAL jit = off")
        counts = await connection.fetch(STORAGE_COUNTS, module_id)
        per_row = await connection.fetchval(BYTES_PER_ROW)
        shadow = await load_shadow(connection, module_id)
    return StorageRows(counts, float(per_row or DEFAULT_BYTES_PER_ROW), shadow)


async def delete_module(pool: asyncpg.Pool, module_id: str) -> bool:
    """Delete every row of the module in one transaction; False if it was unknown.

    A module is known when it has a status row or a desired configuration (set before it ever
    connected). Its activity log entries are kept: they are the record of what happened.
    """
    async with pool.acquire() as connection, connection.transaction():
        known = await connection.fetchval(
            "SELECT 1 FROM device_system_status WHERE module_id = $1 FOR UPDATE", module_id
        )
        if known is None:
            known = await connection.fetchval(
                "SELECT 1 FROM sensor_config_desired WHERE module_id = $1 LIMIT 1", module_id
            )
        if known is None:
            return False
        tables = [table.name for table in (*MODULE_TABLES, *API_MODULE_TABLES)]
        tables += await connection.fetchval(
            "SELECT coalesce(array_agg(DISTINCT c.relname::text), '{}') FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'p') "
            "AND c.relnamespace = current_schema()::regnamespace "
            "AND a.attname = 'module_id' AND NOT a.attisdropped",
            list(ROLLUP_TABLES),
        )
        for name in tables:
            # Table names come from the schema, never from the request.
            await connection.execute(f"DELETE FROM {name} WHERE module_id = $1", module_id)
    return True
