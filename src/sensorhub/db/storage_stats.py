"""What the database holds and how it is stored, for `/api/storage` (snake_case keys)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from sensorhub.config import Settings
from sensorhub.db.retention import RetentionRule, retention_rules, time_column
from sensorhub.db.row_counts import measurement_count

TABLES = (
    "measurements",
    "measurements_hourly_rollup",
    "measurements_hourly",
    "measurements_rollup_dirty",
    "measurements_minute_rollup",
    "device_logs",
    "device_system_status",
    "device_hardware",
    "sensor_status",
    "sensor_config",
    "system_metrics",
    "activity_log",
)

PLAIN_TABLE_SIZES = """
SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes
FROM pg_class AS c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[])
  AND c.relkind IN ('r', 'p', 'm')
"""

HYPERTABLE_SIZES = """
SELECT 'measurements' AS name, hypertable_size('measurements') AS bytes
UNION ALL
SELECT view_name::text, hypertable_size(
    format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)::regclass)
FROM timescaledb_information.continuous_aggregates
WHERE view_schema = current_schema() AND view_name = 'measurements_hourly'
"""

CHUNKS = """
SELECT count(*) AS total, count(*) FILTER (WHERE is_compressed) AS compressed
FROM timescaledb_information.chunks
WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements'
"""

COMPRESSION = """
SELECT coalesce(sum(before_compression_total_bytes), 0)::bigint AS before,
       coalesce(sum(after_compression_total_bytes), 0)::bigint AS after
FROM hypertable_compression_stats('measurements')
"""

# Plain PostgreSQL keys `measurements` by series (migration 0010_p), and its BRIN index on
# `time` cannot give a minimum: a skip scan visits each (module, sensor) series once and reads the
# ends of its key range, a few index pages per series instead of the whole table.
OLDEST_AND_NEWEST = """
WITH RECURSIVE series AS (
    (SELECT module_id, sensor_type FROM measurements ORDER BY module_id, sensor_type LIMIT 1)
    UNION ALL
    SELECT n.module_id, n.sensor_type
    FROM series AS s,
         LATERAL (SELECT m.module_id, m.sensor_type FROM measurements AS m
                  WHERE (m.module_id, m.sensor_type) > (s.module_id, s.sensor_type)
                  ORDER BY m.module_id, m.sensor_type LIMIT 1) AS n
)
SELECT min(o.time), max(n.time)
FROM series AS s,
     LATERAL (SELECT m.time FROM measurements AS m
              WHERE m.module_id = s.module_id AND m.sensor_type = s.sensor_type
              ORDER BY m.time LIMIT 1) AS o,
     LATERAL (SELECT m.time FROM measurements AS m
              WHERE m.module_id = s.module_id AND m.sensor_type = s.sensor_type
              ORDER BY m.time DESC LIMIT 1) AS n
"""
HYPERTABLE_OLDEST_AND_NEWEST = "SELECT min(time), max(time) FROM measurements"

POLICIES = """
SELECT j.job_id, j.proc_name, j.hypertable_name, j.schedule_interval, j.config::text AS config,
       j.scheduled, coalesce(s.next_start, j.next_start) AS next_start,
       s.last_run_started_at, s.last_successful_finish, s.last_run_status, s.total_failures
FROM timescaledb_information.jobs AS j
LEFT JOIN timescaledb_information.job_stats AS s ON s.job_id = j.job_id
WHERE j.hypertable_schema = current_schema() AND j.proc_name LIKE 'policy\\_%'
ORDER BY j.hypertable_name, j.proc_name
"""


async def storage_report(
    connection: asyncpg.Connection, timescale: bool, settings: Settings | None = None
) -> dict[str, Any]:
    """Sizes, counts, retention and (on TimescaleDB) compression and policies of this database."""
    database_bytes = await connection.fetchval("SELECT pg_database_size(current_database())")
    tables = await _table_sizes(connection, timescale)
    oldest, newest = await connection.fetchrow(
        HYPERTABLE_OLDEST_AND_NEWEST if timescale else OLDEST_AND_NEWEST
    )
    count, estimated = await measurement_count(connection, hypertable=timescale)
    return {
        "storage": "timescaledb" if timescale else "postgresql",
        "timescaledb_version": await connection.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ),
        "database_bytes": database_bytes,
        "database_size": await _pretty(connection, database_bytes),
        "tables": tables,
        "measurements": {
            "count": count,
            "count_is_estimate": estimated,
            "oldest": oldest,
            "newest": newest,
        },
        "rollup_pending_buckets": await _queued(connection),
        "retention": await retention_report(connection, settings or Settings(), timescale),
        "timescaledb": await _timescaledb_report(connection) if timescale else None,
    }


async def _queued(connection: asyncpg.Connection) -> int | None:
    if await connection.fetchval("SELECT to_regclass('measurements_rollup_dirty')") is None:
        return None
    return int(await connection.fetchval("SELECT count(*) FROM measurements_rollup_dirty"))


async def retention_report(
    connection: asyncpg.Connection, settings: Settings, timescale: bool
) -> list[dict[str, Any]]:
    """Each growing table: how long rows are kept (seconds), by what, and its oldest row."""
    rules = [RetentionRule("measurements", settings.retain_for), *retention_rules(settings)]
    report = []
    for rule in rules:
        column = await time_column(connection, rule.table)
        oldest = None
        if column is not None:
            oldest = await connection.fetchval(f"SELECT min({column}) FROM {rule.table}")
        policy = timescale and rule.table == "measurements"
        report.append(
            {
                "table": rule.table,
                "keep_for_seconds": rule.keep_for.total_seconds(),
                "applied_by": "timescaledb retention policy" if policy else "retention job",
                "exists": column is not None,
                "oldest": oldest,
            }
        )
    return report


async def _pretty(connection: asyncpg.Connection, size: int) -> str:
    return str(await connection.fetchval("SELECT pg_size_pretty($1::bigint)", size))


async def _table_sizes(connection: asyncpg.Connection, timescale: bool) -> list[dict[str, Any]]:
    sizes = {r["name"]: r["bytes"] for r in await connection.fetch(PLAIN_TABLE_SIZES, TABLES)}
    if timescale:
        sizes.update({r["name"]: r["bytes"] for r in await connection.fetch(HYPERTABLE_SIZES)})
    return [
        {"name": name, "bytes": sizes[name], "size": await _pretty(connection, sizes[name])}
        for name in TABLES
        if sizes.get(name) is not None
    ]


async def _timescaledb_report(connection: asyncpg.Connection) -> dict[str, Any]:
    hypertable_bytes = await connection.fetchval("SELECT hypertable_size('measurements')")
    chunks = await connection.fetchrow(CHUNKS)
    compression = await connection.fetchrow(COMPRESSION)
    before, after = compression["before"], compression["after"]
    return {
        "hypertable_bytes": hypertable_bytes,
        "hypertable_size": await _pretty(connection, hypertable_bytes or 0),
        "chunk_count": chunks["total"],
        "compressed_chunk_count": chunks["compressed"],
        "uncompressed_bytes": before,
        "compressed_bytes": after,
        "compression_ratio": round(before / after, 2) if after else None,
        "compression_saved_percent": round(100 * (1 - after / before), 1) if before else None,
        "policies": [_policy(row) for row in await connection.fetch(POLICIES)],
    }


def _policy(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "job_id": row["job_id"],
        "kind": row["proc_name"].removeprefix("policy_"),
        "relation": row["hypertable_name"],
        "schedule_interval_seconds": row["schedule_interval"].total_seconds(),
        "config": json.loads(row["config"]) if row["config"] else {},
        "scheduled": row["scheduled"],
        "next_start": _finite(row["next_start"]),
        "last_run_started_at": _finite(row["last_run_started_at"]),
        "last_successful_finish": _finite(row["last_successful_finish"]),
        "last_run_status": row["last_run_status"],
        "total_failures": row["total_failures"] or 0,
    }


def _finite(moment: datetime | None) -> datetime | None:
    """asyncpg decodes PostgreSQL's ±infinity (a job that never ran) as datetime.min/max."""
    if moment is None or moment.year in (datetime.min.year, datetime.max.year):
        return None
    return moment
