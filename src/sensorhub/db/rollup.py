"""Minute and hourly rollups, recomputed from a queue of touched minutes, never blocking ingest.

The batch writer and a delete trigger append (minute, module, sensor) buckets to the append-only
queue `measurements_rollup_dirty` inside the transactions that change `measurements` (migration
0009_p). The job (`refresh_rollup`) never holds a lock a writer needs (issue 17, the hourly stall):

1. *claim*: one short statement deletes every queued row it can see (only committed writers'
   rows are visible; writers only ever insert new rows, so nothing waits) and inserts one
   `claimed` row per distinct bucket in their place;
2. *recompute* the claimed minutes from `measurements`, a page at a time, each in a statement of
   its own whose snapshot includes every writer whose rows were claimed, and fold each touched
   hour from its ≤ 60 minutes per hardware id (the stored ones plus the recomputed ones) instead of
   re-reading the hour's readings: a run costs what was written since the last one, not what the
   hour holds. The only rows it locks are in `measurements_hourly_rollup` and
   `measurements_minute_rollup`, which writers never touch;
3. delete each page's claimed rows (by `id`) once recomputed. A crash before that only means the
   minutes are recomputed again by the next run.

So a minute is in the queue, claimed or not, from the commit that changed its readings until
the commit of its recomputed rollup rows: history (`modules.devices.history_sql`) reads queued
minutes from `measurements` and every other minute from the minute rollup, in one snapshot.

A steady stream re-queues the open minute's buckets with every batch; claiming collapses them, so
each run recomputes each bucket once, however many batches touched it.

On TimescaleDB the continuous aggregate `measurements_hourly` replaces the plain rollup; its
refresh policy and real-time aggregation cover recent hours, and the queue only holds minutes of
back-filled hours (older than `BACKFILL_AGE`), which the job refreshes at once with
`refresh_continuous_aggregate` over their whole hours instead of waiting for the policy's next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg

logger = logging.getLogger(__name__)

BUCKETS_PER_PASS = 2_000
BACKFILL_AGE = timedelta(hours=1)
"""TimescaleDB: hours older than this may be below the aggregate's watermark (its end offset)."""

CLAIM = """
WITH taken AS (
    DELETE FROM measurements_rollup_dirty WHERE NOT claimed
    RETURNING bucket, module_id, sensor_type
)
INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type, claimed)
SELECT DISTINCT bucket, module_id, sensor_type, true FROM taken
"""
READ_CLAIMED = """
SELECT id, bucket, module_id, sensor_type FROM measurements_rollup_dirty
WHERE claimed AND id > $1 ORDER BY id LIMIT $2
"""
DELETE_DONE = "DELETE FROM measurements_rollup_dirty WHERE id = ANY($1::bigint[])"

# The queued minutes are read from `measurements` (one index range per minute, in a LATERAL
# subquery: joined as plain tables, the queue and `measurements` were merge-joined over every row
# of the sensors). Each touched hour is then summed from its stored minutes that were not
# recomputed plus the recomputed ones: the statement's snapshot cannot see its own writes to the
# minute rollup. `OFFSET 0` keeps the minute-rollup subquery from being pulled up into a join that
# scans the table whole. Unchanged minutes and hours are not rewritten. No comments inside the
# SQL: pg_stat_activity shows its first 1,024 bytes, and tests find the paused job by the minute
# rollup's name there.
RECOMPUTE = """
WITH dirty AS MATERIALIZED (
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[])
        AS d(bucket, module_id, sensor_type)
), hours AS MATERIALIZED (
    SELECT DISTINCT date_trunc('hour', bucket, 'UTC') AS bucket, module_id, sensor_type FROM dirty
), stored AS MATERIALIZED (
    SELECT h.bucket AS hour, o.row_id, o.bucket, h.module_id, h.sensor_type, o.hardware_id,
           o.sum, o.count, o.min, o.max
    FROM hours AS h CROSS JOIN LATERAL (
        SELECT r.ctid AS row_id, r.bucket, r.hardware_id, r.sum, r.count, r.min, r.max
        FROM measurements_minute_rollup AS r
        WHERE r.module_id = h.module_id AND r.sensor_type = h.sensor_type
          AND r.bucket >= h.bucket AND r.bucket < h.bucket + interval '1 hour'
        OFFSET 0
    ) AS o
), minutes AS MATERIALIZED (
    SELECT d.bucket, d.module_id, d.sensor_type, o.hardware_id, o.sum, o.count, o.min, o.max
    FROM dirty AS d CROSS JOIN LATERAL (
        SELECT m.hardware_id,
               sum(m.value) AS sum, count(*) AS count, min(m.value) AS min, max(m.value) AS max
        FROM measurements AS m
        WHERE m.module_id = d.module_id AND m.sensor_type = d.sensor_type
          AND m.time >= d.bucket AND m.time < d.bucket + interval '1 minute'
        GROUP BY m.hardware_id
    ) AS o
), recomputed AS MATERIALIZED (
    SELECT s.* FROM stored AS s
    WHERE EXISTS (
        SELECT FROM dirty AS d
        WHERE (d.bucket, d.module_id, d.sensor_type) = (s.bucket, s.module_id, s.sensor_type))
), minutes_emptied AS (
    DELETE FROM measurements_minute_rollup AS r
    USING recomputed AS s
    WHERE r.ctid = s.row_id
      AND NOT EXISTS (
          SELECT FROM minutes AS f
          WHERE (f.bucket, f.module_id, f.sensor_type, f.hardware_id)
              = (s.bucket, s.module_id, s.sensor_type, s.hardware_id))
), minutes_written AS (
    INSERT INTO measurements_minute_rollup AS r
        (module_id, sensor_type, bucket, hardware_id, sum, count, min, max)
    SELECT module_id, sensor_type, bucket, hardware_id, sum, count, min, max FROM minutes
    ON CONFLICT (module_id, sensor_type, bucket, hardware_id) DO UPDATE
    SET sum = EXCLUDED.sum, count = EXCLUDED.count, min = EXCLUDED.min, max = EXCLUDED.max
    WHERE (r.sum, r.count, r.min, r.max)
        IS DISTINCT FROM (EXCLUDED.sum, EXCLUDED.count, EXCLUDED.min, EXCLUDED.max)
), fresh AS MATERIALIZED (
    SELECT x.hour AS bucket, x.module_id, x.sensor_type,
           sum(x.sum) AS sum, sum(x.count) AS count, min(x.min) AS min, max(x.max) AS max
    FROM (
        SELECT s.hour, s.module_id, s.sensor_type, s.sum, s.count, s.min, s.max
        FROM stored AS s
        WHERE NOT EXISTS (
            SELECT FROM dirty AS d
            WHERE (d.bucket, d.module_id, d.sensor_type) = (s.bucket, s.module_id, s.sensor_type))
        UNION ALL
        SELECT date_trunc('hour', f.bucket, 'UTC'), f.module_id, f.sensor_type,
               f.sum, f.count, f.min, f.max
        FROM minutes AS f
    ) AS x
    GROUP BY 1, 2, 3
), emptied AS (
    DELETE FROM measurements_hourly_rollup AS r
    USING hours AS h
    WHERE (r.bucket, r.module_id, r.sensor_type) = (h.bucket, h.module_id, h.sensor_type)
      AND NOT EXISTS (
          SELECT FROM fresh AS f
          WHERE (f.bucket, f.module_id, f.sensor_type) = (h.bucket, h.module_id, h.sensor_type))
)
INSERT INTO measurements_hourly_rollup AS r (bucket, module_id, sensor_type, sum, count, min, max)
SELECT bucket, module_id, sensor_type, sum, count, min, max FROM fresh
ON CONFLICT (module_id, sensor_type, bucket) DO UPDATE
SET sum = EXCLUDED.sum, count = EXCLUDED.count, min = EXCLUDED.min, max = EXCLUDED.max
WHERE (r.sum, r.count, r.min, r.max)
    IS DISTINCT FROM (EXCLUDED.sum, EXCLUDED.count, EXCLUDED.min, EXCLUDED.max)
"""

# Literal bounds, not parameters: the procedure commits internally, so it must run through the
# simple query protocol (asyncpg uses it only for statements without arguments).
REFRESH_CAGG = (
    "CALL refresh_continuous_aggregate('measurements_hourly', "
    "'{start}'::timestamptz, '{end}'::timestamptz)"
)
REFRESH_CAGG_ALL = "CALL refresh_continuous_aggregate('measurements_hourly', NULL, NULL)"
REFRESH_ATTEMPTS = 50
REFRESH_RETRY_DELAY_S = 0.2

Bucket = tuple[datetime, str, str]


async def refresh_rollup(
    connection: asyncpg.Connection, *, batch_size: int = BUCKETS_PER_PASS
) -> int:
    """Recompute every queued minute; returns how many distinct (minute, module, sensor) buckets
    were recomputed.

    On TimescaleDB (no `measurements_hourly_rollup`) the queued back-filled hours are refreshed
    in the continuous aggregate, then the whole aggregate is refreshed, and 0 is returned.
    Must not run inside an open transaction: each step commits on its own.
    """
    if connection.is_in_transaction():
        raise RuntimeError("refresh_rollup must run outside a transaction")
    if await connection.fetchval("SELECT to_regclass('measurements_hourly_rollup')") is None:
        await refresh_backfilled_hours(connection, batch_size=batch_size)
        await _refresh_continuous_aggregate(connection, REFRESH_CAGG_ALL)
        return 0
    total = 0
    async for rows in _claimed_pages(connection, batch_size):
        # Distinct: a page may hold a bucket twice (a dead run's claim and this run's).
        buckets = sorted({(r["bucket"], r["module_id"], r["sensor_type"]) for r in rows})
        await recompute(connection, buckets)
        await connection.execute(DELETE_DONE, [r["id"] for r in rows])
        total += len(buckets)
    if total:
        logger.debug("rollup: recomputed %d minute buckets", total)
    return total


async def _claimed_pages(
    connection: asyncpg.Connection, batch_size: int
) -> AsyncIterator[list[asyncpg.Record]]:
    """Claim what is queued now, then yield the claimed rows (earlier claims included) in pages."""
    await connection.execute(CLAIM)
    after = 0
    while True:
        rows = await connection.fetch(READ_CLAIMED, after, batch_size)
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


async def recompute(connection: asyncpg.Connection, buckets: list[Bucket]) -> None:
    """Recompute the (minute, module, sensor) `buckets` (distinct) of `measurements_minute_rollup`
    from `measurements`, and their hours of `measurements_hourly_rollup` from the minutes."""
    await connection.execute(
        RECOMPUTE, [b[0] for b in buckets], [b[1] for b in buckets], [b[2] for b in buckets]
    )


async def refresh_backfilled_hours(
    connection: asyncpg.Connection, *, batch_size: int = BUCKETS_PER_PASS
) -> int:
    """TimescaleDB: refresh the continuous aggregate over the hours of the queued minutes;
    returns how many queued (minute, module, sensor) rows were handled.

    One refresh per page covers the hour of the oldest to that of the newest queued minute
    (the aggregate refreshes only buckets wholly inside the window): TimescaleDB only
    re-materialises the invalidated buckets inside it, so a wide window costs little.
    """
    total = 0
    async for rows in _claimed_pages(connection, batch_size):
        minutes = [r["bucket"] for r in rows]  # UTC datetimes from the database
        start = _hour_of(min(minutes))
        end = _hour_of(max(minutes)) + timedelta(hours=1)
        await _refresh_continuous_aggregate(
            connection, REFRESH_CAGG.format(start=start.isoformat(), end=end.isoformat())
        )
        await connection.execute(DELETE_DONE, [r["id"] for r in rows])
        total += len(rows)
    return total


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def _refresh_continuous_aggregate(connection: asyncpg.Connection, sql: str) -> None:
    """Refresh now, waiting out a refresh policy run that holds an overlapping window."""
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            await connection.execute(sql)
            return
        except asyncpg.LockNotAvailableError:
            if attempt == REFRESH_ATTEMPTS - 1:
                raise
            await asyncio.sleep(REFRESH_RETRY_DELAY_S)


async def rollup_job(connection: asyncpg.Connection) -> None:
    """The periodic body: plain PostgreSQL recomputes queued minutes; TimescaleDB refreshes only
    the back-filled hours (its policy covers the rest)."""
    if await connection.fetchval("SELECT to_regclass('measurements_hourly_rollup')") is None:
        await refresh_backfilled_hours(connection)
    else:
        await refresh_rollup(connection)
