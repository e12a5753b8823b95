"""TimescaleDB detection and the storage layout that depends on it (docs/contract.md §7)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from sensorhub.config import Settings
from sensorhub.db import locks

logger = logging.getLogger(__name__)

TIMESCALE_META_KEY = "timescaledb"
CHUNK_INTERVAL = timedelta(days=1)
REFRESH_END_OFFSET = timedelta(hours=1)
REFRESH_SCHEDULE = timedelta(minutes=30)
MIN_REFRESH_WINDOW = timedelta(hours=3)  # TimescaleDB wants at least two buckets in the window

DROP_PLAIN_ROLLUP = """
DROP TRIGGER IF EXISTS measurements_rollup_on_delete ON measurements;
DROP FUNCTION IF EXISTS sensorhub_mark_rollup_dirty();
DROP TABLE IF EXISTS measurements_hourly_rollup;
DROP TABLE IF EXISTS measurements_minute_rollup;
"""
# `measurements_rollup_dirty` stays: it queues back-filled hours for the aggregate (db/rollup.py).

IS_HYPERTABLE = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.hypertables
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements')
"""

# Migration 0010_p gives plain PostgreSQL one series-led key and a BRIN index on `time`; a
# hypertable keeps the layout it has always had (chunk exclusion serves the time windows), so a
# table about to become one gets it back.
TIME_LED_KEY = """
DROP INDEX IF EXISTS ix_measurements_time;
ALTER TABLE measurements DROP CONSTRAINT pk_measurements;
ALTER TABLE measurements ADD CONSTRAINT pk_measurements
    PRIMARY KEY (time, module_id, sensor_type, hardware_id);
CREATE INDEX IF NOT EXISTS ix_measurements_module_sensor_time
    ON measurements (module_id, sensor_type, time) INCLUDE (value, hardware_id);
"""

CREATE_HYPERTABLE = """
SELECT create_hypertable('measurements', by_range('time', $1::interval),
    create_default_indexes => false, if_not_exists => true, migrate_data => true)
"""

ENABLE_COMPRESSION = """
ALTER TABLE measurements SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'module_id, sensor_type',
    timescaledb.compress_orderby = 'time DESC')
"""

CREATE_HOURLY_CAGG = """
CREATE MATERIALIZED VIEW measurements_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, module_id, sensor_type,
       avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count
FROM measurements
GROUP BY bucket, module_id, sensor_type
WITH NO DATA
"""

REALTIME_AGGREGATION = (
    "ALTER MATERIALIZED VIEW measurements_hourly SET (timescaledb.materialized_only = false)"
)

IS_HOURLY_CAGG = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.continuous_aggregates
    WHERE view_schema = current_schema() AND view_name = 'measurements_hourly')
"""

HAS_COMPRESSED_CHUNKS = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.chunks
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements'
      AND is_compressed)
"""

# For a continuous aggregate's policies `hypertable_name` is the aggregate's view name.
POLICY_JOB = """
SELECT j.config, j.schedule_interval
FROM timescaledb_information.jobs AS j
WHERE j.proc_name = $1 AND j.hypertable_schema = current_schema() AND j.hypertable_name = $2
"""


@dataclass(frozen=True)
class Policy:
    """A TimescaleDB policy on `relation`, replaced when its settings differ from `offsets`."""

    proc_name: str
    relation: str
    offsets: dict[str, timedelta]
    add_sql: str
    remove_sql: str
    schedule_interval: timedelta | None = None


def policies(settings: Settings) -> list[Policy]:
    refresh_window = max(settings.retain_for, MIN_REFRESH_WINDOW)
    return [
        Policy(
            "policy_compression",
            "measurements",
            {"compress_after": settings.compress_after},
            "SELECT add_compression_policy('measurements', compress_after => $1::interval)",
            "SELECT remove_compression_policy('measurements', if_exists => true)",
        ),
        Policy(
            "policy_retention",
            "measurements",
            {"drop_after": settings.retain_for},
            "SELECT add_retention_policy('measurements', drop_after => $1::interval)",
            "SELECT remove_retention_policy('measurements', if_exists => true)",
        ),
        # Refreshing over the whole retained range costs only the invalidated (late) buckets, and
        # keeps late data older than a few days out of reach of stale materialisations.
        Policy(
            "policy_refresh_continuous_aggregate",
            "measurements_hourly",
            {"start_offset": refresh_window, "end_offset": REFRESH_END_OFFSET},
            "SELECT add_continuous_aggregate_policy('measurements_hourly', "
            "start_offset => $1::interval, end_offset => $2::interval, "
            "schedule_interval => $3::interval)",
            "SELECT remove_continuous_aggregate_policy('measurements_hourly', if_exists => true)",
            REFRESH_SCHEDULE,
        ),
        Policy(
            "policy_retention",
            "measurements_hourly",
            {"drop_after": settings.retain_for},
            "SELECT add_retention_policy('measurements_hourly', drop_after => $1::interval)",
            "SELECT remove_retention_policy('measurements_hourly', if_exists => true)",
        ),
    ]


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
    # Without the preload, CREATE EXTENSION ends the session (FATAL) rather than raising.
    preload = await connection.fetchval("SELECT current_setting('shared_preload_libraries')")
    if "timescaledb" not in preload:
        logger.warning("TimescaleDB is installed but not in shared_preload_libraries; not using it")
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
    """Detect TimescaleDB, record which storage path this database is on, and lay it out.

    Re-runnable: on TimescaleDB every step checks what exists, and policies whose settings
    changed (COMPRESS_AFTER, RETAIN_FOR) are replaced.
    """
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", locks.advisory_key(locks.STORAGE))
        version = await detect_timescaledb(connection)
        await record_storage_mode(connection, version)
        if version:
            logger.info("TimescaleDB %s detected", version)
            await configure_timescaledb(connection, settings)
    finally:
        await connection.close()
    return version is not None


async def configure_timescaledb(connection: asyncpg.Connection, settings: Settings) -> None:
    """Hypertable, compression, continuous aggregate and policies, replacing the plain rollup."""
    async with connection.transaction():
        if not await connection.fetchval(IS_HOURLY_CAGG):
            await connection.execute("DROP VIEW IF EXISTS measurements_hourly")
        # The plain rollup's delete trigger uses a transition table, which hypertables refuse.
        await connection.execute(DROP_PLAIN_ROLLUP)
        if not await connection.fetchval(IS_HYPERTABLE):
            await connection.execute(TIME_LED_KEY)
        await connection.fetchval(CREATE_HYPERTABLE, CHUNK_INTERVAL)
        # Compression settings cannot change while compressed chunks exist; set them before.
        if not await connection.fetchval(HAS_COMPRESSED_CHUNKS):
            await connection.execute(ENABLE_COMPRESSION)
        if not await connection.fetchval(IS_HOURLY_CAGG):
            await connection.execute(CREATE_HOURLY_CAGG)
        await connection.execute(REALTIME_AGGREGATION)
    for policy in policies(settings):
        await ensure_policy(connection, policy)


async def ensure_policy(connection: asyncpg.Connection, policy: Policy) -> None:
    job = await connection.fetchrow(POLICY_JOB, policy.proc_name, policy.relation)
    if job is not None and await _matches(connection, policy, job):
        return
    args: list[timedelta] = list(policy.offsets.values())
    if policy.schedule_interval is not None:
        args.append(policy.schedule_interval)
    async with connection.transaction():
        await connection.execute(policy.remove_sql)
        await connection.execute(policy.add_sql, *args)
    logger.info("TimescaleDB %s on %s set to %s", policy.proc_name, policy.relation, policy.offsets)


async def _matches(connection: asyncpg.Connection, policy: Policy, job: asyncpg.Record) -> bool:
    schedule = policy.schedule_interval
    if schedule is not None and job["schedule_interval"] != schedule:
        return False
    config = json.loads(job["config"]) if isinstance(job["config"], str) else job["config"]
    for key, wanted in policy.offsets.items():
        current = config.get(key)
        if current is None or not await connection.fetchval(
            "SELECT $1::text::interval = $2::interval", str(current), wanted
        ):
            return False
    return True
