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

# Each queued minute is read from `measurements` (one index range, in a LATERAL subquery: joined
# as plain tables, the queue and `measurements` were merge-joined over every row of the sensors)
# into arrays of its per-hardware-id aggregates. Each touched hour is the sum of those and of its
# other stored minutes (one index-only range of the minute rollup, skipping the queued minutes:
# the statement's snapshot cannot see its own writes). Every join is on a table's key or over
# one row per minute or hour: an anti-join between two of these CTEs was planned as a nested loop
# (their row counts are unknown to the planner), quadratic in the minutes queued. Unchanged minutes
# and hours are not rewritten. No comments inside the SQL: pg_stat_activity shows its first 1,024
# bytes, and tests find the paused job by the minute rollup's name there.
RECOMPUTE = """
WITH minutes AS MATERIALIZED (
    SELECT d.bucket, d.module_id, d.sensor_type, o.hws, o.sums, o.counts, o.mins, o.maxs
    FROM unnest($1::timestamptz[], $2::text[], $3::text[]) AS d(bucket, module_id, sensor_type)
    CROSS JOIN LATERAL (
        SELECT array_agg(g.hw) AS hws, array_agg(g.s) AS sums, array_agg(g.n) AS counts,
               array_agg(g.mn) AS mins, array_agg(g.mx) AS maxs
        FROM (SELECT m.hardware_id AS hw, sum(m.value) AS s, count(*) AS n,
                     min(m.value) AS mn, max(m.value) AS mx
              FROM measurements AS m
              WHERE m.module_id = d.module_id AND m.sensor_type = d.sensor_type
                AND m.time >= d.bucket AND m.time < d.bucket + interval '1 minute'
              GROUP BY m.hardware_id) AS g
    ) AS o
), minutes_emptied AS (
    DELETE FROM measurements_minute_rollup AS r
    USING minutes AS f
    WHERE (r.module_id, r.sensor_type, r.bucket) = (f.module_id, f.sensor_type, f.bucket)
      AND r.hardware_id <> ALL (coalesce(f.hws, '{}'))
), minutes_written AS (
    INSERT INTO measurements_minute_rollup AS r
        (module_id, sensor_type, bucket, hardware_id, sum, count, min, max)
    SELECT f.module_id, f.sensor_type, f.bucket, u.hw, u.s, u.n, u.mn, u.mx
    FROM minutes AS f CROSS JOIN LATERAL unnest(f.hws, f.sums, f.counts, f.mins, f.maxs)
        AS u(hw, s, n, mn, mx)
    ON CONFLICT (module_id, sensor_type, bucket, hardware_id) DO UPDATE
    SET sum = EXCLUDED.sum, count = EXCLUDED.count, min = EXCLUDED.min, max = EXCLUDED.max
    WHERE (r.sum, r.count, r.min, r.max)
        IS DISTINCT FROM (EXCLUDED.sum, EXCLUDED.count, EXCLUDED.min, EXCLUDED.max)
), hours AS MATERIALIZED (
    SELECT date_trunc('hour', f.bucket, 'UTC') AS bucket, f.module_id, f.sensor_type,
           array_agg(f.bucket) AS minutes, sum(u.s) AS sum, sum(u.n)::bigint AS count,
           min(u.mn) AS min, max(u.mx) AS max
    FROM minutes AS f
    LEFT JOIN LATERAL unnest(f.sums, f.counts, f.mins, f.maxs) AS u(s, n, mn, mx) ON true
    GROUP BY 1, 2, 3
), fresh AS MATERIALIZED (
    SELECT h.bucket, h.module_id, h.sensor_type,
           coalesce(h.sum, 0) + coalesce(o.sum, 0) AS sum,
           coalesce(h.count, 0) + coalesce(o.count, 0) AS count,
           least(h.min, o.min) AS min, greatest(h.max, o.max) AS max
    FROM hours AS h CROSS JOIN LATERAL (
        SELECT sum(r.sum) AS sum, sum(r.count)::bigint AS count, min(r.min) AS min,
               max(r.max) AS max
        FROM measurements_minute_rollup AS r
        WHERE r.module_id = h.module_id AND r.sensor_type = h.sensor_type
          AND r.bucket >= h.bucket AND r.bucket < h.bucket + interval '1 hour'
          AND r.bucket <> ALL (h.minutes)
    ) AS o
), emptied AS (
    DELETE FROM measurements_hourly_rollup AS r
    USING fresh AS f
    WHERE (r.module_id, r.sensor_type, r.bucket) = (f.module_id, f.sensor_type, f.bucket)
      AND f.count = 0
)
INSERT INTO measurements_hourly_rollup AS r (bucket, module_id, sensor_type, sum, count, min, max)
SELECT bucket, module_id, sensor_type, sum, count, min, max FROM fresh WHERE count > 0
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
