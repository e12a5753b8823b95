"""SQL for the system endpoints and the metrics sampler (storage report: `db.storage_stats`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

MAX_METRICS_POINTS = 500

DB_SIZE = """
SELECT pg_database_size(current_database()) AS bytes,
       pg_size_pretty(pg_database_size(current_database())) AS pretty
"""

# Samples in [start, end), averaged over equal time buckets so at most MAX_METRICS_POINTS return.
METRICS_HISTORY = """
SELECT max(time) AS time,
       round(avg(db_size_bytes))::bigint AS db_size_bytes,
       round(avg(measurement_count))::bigint AS measurement_count,
       round(avg(module_count))::int AS module_count,
       avg(ingest_rate) AS ingest_rate
FROM system_metrics
WHERE time >= $1 AND time < $2
GROUP BY CASE WHEN $3::float8 > 0
         THEN date_bin(make_interval(secs => $3::float8), time, $1) ELSE time END
ORDER BY 1
"""


async def database_size(connection: asyncpg.Connection | asyncpg.Pool) -> tuple[int, str]:
    row = await connection.fetchrow(DB_SIZE)
    assert row is not None
    return int(row["bytes"]), str(row["pretty"])


async def metrics_history(
    pool: asyncpg.Pool, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    count = await pool.fetchval(
        "SELECT count(*) FROM system_metrics WHERE time >= $1 AND time < $2", start, end
    )
    bucket_s = 0.0
    if count > MAX_METRICS_POINTS:
        bucket_s = (end - start).total_seconds() / MAX_METRICS_POINTS
    rows: list[asyncpg.Record] = await pool.fetch(METRICS_HISTORY, start, end, bucket_s)
    return rows


async def is_hypertable(connection: asyncpg.Connection | asyncpg.Pool) -> bool:
    installed = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    )
    if not installed:
        return False
    return bool(
        await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements')"
        )
    )
