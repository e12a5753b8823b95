"""The hourly rollup on plain PostgreSQL, recomputed incrementally from dirty buckets.

The batch writer and a delete trigger queue (hour, module, sensor) buckets in
`measurements_rollup_dirty` inside the transactions that change `measurements`; `refresh_rollup`
takes queued buckets and recomputes exactly those from `measurements`. On TimescaleDB the
continuous aggregate `measurements_hourly` replaces all of this.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

logger = logging.getLogger(__name__)

BUCKETS_PER_TRANSACTION = 1_000

# Rows locked by a writer that has not committed yet are skipped: they stay queued for the next run.
TAKE_DIRTY = """
DELETE FROM measurements_rollup_dirty AS d
USING (
    SELECT bucket, module_id, sensor_type FROM measurements_rollup_dirty
    ORDER BY bucket, module_id, sensor_type
    LIMIT $1
    FOR UPDATE SKIP LOCKED
) AS taken
WHERE (d.bucket, d.module_id, d.sensor_type) = (taken.bucket, taken.module_id, taken.sensor_type)
RETURNING d.bucket, d.module_id, d.sensor_type
"""

RECOMPUTE = """
WITH dirty AS (
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[])
        AS d(bucket, module_id, sensor_type)
), fresh AS (
    SELECT d.bucket, d.module_id, d.sensor_type,
           sum(m.value) AS sum, count(*) AS count, min(m.value) AS min, max(m.value) AS max
    FROM dirty AS d
    JOIN measurements AS m
      ON m.module_id = d.module_id AND m.sensor_type = d.sensor_type
     AND m.time >= d.bucket AND m.time < d.bucket + interval '1 hour'
    GROUP BY d.bucket, d.module_id, d.sensor_type
), emptied AS (
    DELETE FROM measurements_hourly_rollup AS r
    USING dirty AS d
    WHERE (r.bucket, r.module_id, r.sensor_type) = (d.bucket, d.module_id, d.sensor_type)
      AND NOT EXISTS (
          SELECT 1 FROM fresh AS f
          WHERE (f.bucket, f.module_id, f.sensor_type) = (d.bucket, d.module_id, d.sensor_type))
)
INSERT INTO measurements_hourly_rollup AS r (bucket, module_id, sensor_type, sum, count, min, max)
SELECT bucket, module_id, sensor_type, sum, count, min, max FROM fresh
ON CONFLICT (module_id, sensor_type, bucket) DO UPDATE
SET sum = EXCLUDED.sum, count = EXCLUDED.count, min = EXCLUDED.min, max = EXCLUDED.max
"""

REFRESH_CAGG = "CALL refresh_continuous_aggregate('measurements_hourly', NULL, NULL)"
REFRESH_ATTEMPTS = 50
REFRESH_RETRY_DELAY_S = 0.2


async def refresh_rollup(
    connection: asyncpg.Connection, *, batch_size: int = BUCKETS_PER_TRANSACTION
) -> int:
    """Recompute every queued bucket; returns how many were recomputed.

    On TimescaleDB (no dirty queue) this refreshes the continuous aggregate instead and returns 0.
    Must not run inside an open transaction on that path.
    """
    if await connection.fetchval("SELECT to_regclass('measurements_rollup_dirty')") is None:
        await _refresh_continuous_aggregate(connection)
        return 0
    total = 0
    while True:
        async with connection.transaction():
            # A second statement, so its snapshot includes every writer that touched a taken row.
            rows = await connection.fetch(TAKE_DIRTY, batch_size)
            if rows:
                await connection.execute(
                    RECOMPUTE,
                    [r["bucket"] for r in rows],
                    [r["module_id"] for r in rows],
                    [r["sensor_type"] for r in rows],
                )
        total += len(rows)
        if len(rows) < batch_size:
            break
    if total:
        logger.debug("rollup: recomputed %d hourly buckets", total)
    return total


async def _refresh_continuous_aggregate(connection: asyncpg.Connection) -> None:
    """Refresh now, waiting out a refresh policy run that holds an overlapping window."""
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            await connection.execute(REFRESH_CAGG)
            return
        except asyncpg.LockNotAvailableError:
            if attempt == REFRESH_ATTEMPTS - 1:
                raise
            await asyncio.sleep(REFRESH_RETRY_DELAY_S)


async def rollup_job(connection: asyncpg.Connection) -> None:
    await refresh_rollup(connection)
