"""History SQL over the minute rollup: whole minutes from the rollup, the rest from raw rows.

Plain PostgreSQL only (TimescaleDB buckets raw rows with `time_bucket`). For one sensor type the
readings of [start, end) come from two disjoint sources:

- `measurements_minute_rollup` for the whole minutes in [inner_lo, inner_hi) that are not queued
  for the rollup job (`measurements_rollup_dirty`: minutes written since its last run);
- `measurements` for the partial minutes at both ends ([start, inner_lo) and [inner_hi, end))
  and for the queued minutes (each run of consecutive queued minutes one range), each range one
  index-only scan.

The queue holds a minute from the commit that changed its readings until the commit of its
recomputed rollup rows (`sensorhub.db.rollup`), so one statement (one snapshot) never counts a
reading twice nor misses one. Both sources yield (hardware_id, time, total, n, mn, mx) rows: a
minute's aggregates, or one reading as (value, 1, value, value). Parameters: $1 module id,
$2 start, $3 end, $4 inner_lo, $5 inner_hi (see `whole_minutes`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sensorhub.modules.devices.repository import MEASURED_TYPES

MINUTE = timedelta(minutes=1)


def epoch_micros(moment: str) -> str:
    """SQL: the timestamptz expression `moment` as exact integer µs since the epoch (UTC).

    One float product is exact while |µs| < 2.25e15 (1898-2041); outside, three calls are.
    """
    exact = (
        f"date_part('epoch', date_trunc('second', {moment}))::bigint * 1000000"
        f" + date_part('microseconds', {moment})::bigint % 1000000"
    )
    return (
        f"(CASE WHEN {moment} >= '1900-01-01Z' AND {moment} < '2040-01-01Z'"
        f" THEN (date_part('epoch', {moment}) * 1000000)::bigint ELSE {exact} END)"
    )


# Queued minutes inside the rollup's part of the range, and the runs of consecutive ones (a
# minute minus its rank is the same for every minute of a run).
STALE_MINUTES = """
, stale AS MATERIALIZED (
    SELECT DISTINCT sensor_type, bucket FROM measurements_rollup_dirty
    WHERE module_id = $1 AND bucket >= $4 AND bucket < $5
), stale_runs AS MATERIALIZED (
    SELECT sensor_type, min(bucket) AS lo, max(bucket) + interval '1 minute' AS hi
    FROM (SELECT sensor_type, bucket,
                 bucket - make_interval(mins => (row_number() OVER w)::int) AS run
          FROM stale WINDOW w AS (PARTITION BY sensor_type ORDER BY bucket)) AS s
    GROUP BY sensor_type, run
)
"""

READINGS = """
SELECT r.hardware_id, r.bucket AS time, r.sum AS total, r.count AS n, r.min AS mn, r.max AS mx
FROM measurements_minute_rollup r
WHERE r.module_id = $1 AND r.sensor_type = t.sensor_type AND r.bucket >= $4 AND r.bucket < $5
  AND NOT EXISTS (SELECT FROM stale
                  WHERE stale.sensor_type = t.sensor_type AND stale.bucket = r.bucket)
UNION ALL
SELECT m.hardware_id, m.time, m.value, 1, m.value, m.value
FROM (SELECT $2::timestamptz AS lo, $4::timestamptz AS hi
      UNION ALL SELECT $5, $3
      UNION ALL SELECT stale_runs.lo, stale_runs.hi
      FROM stale_runs WHERE stale_runs.sensor_type = t.sensor_type) w
JOIN measurements m ON m.module_id = $1 AND m.sensor_type = t.sensor_type
                   AND m.time >= w.lo AND m.time < w.hi
"""


def whole_minutes(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """(inner_lo, inner_hi): the whole minutes of [start, end), start ≤ inner_lo ≤ inner_hi ≤ end.

    A range inside one minute has none: (end, end), so [start, end) is read raw.
    """
    inner_lo = floor_minute(start)
    if inner_lo < start:
        inner_lo += MINUTE
    inner_hi = floor_minute(end)
    return (inner_lo, inner_hi) if inner_lo < inner_hi else (end, end)


def floor_minute(moment: datetime) -> datetime:
    """The start of `moment`'s minute (aware datetimes; zones have whole-minute offsets)."""
    return moment.replace(second=0, microsecond=0)


# $6 bucket width (whole minutes), $7 origin (the start, on a minute).
SERIES = f"""
{MEASURED_TYPES}
{STALE_MINUTES}
SELECT t.sensor_type, s.hardware_id, s.t, s.mn, s.mx, s.mean, s.n FROM types t
CROSS JOIN LATERAL (
    SELECT b.hardware_id,
           array_agg((date_part('epoch', b.bucket) * 1000)::bigint ORDER BY b.bucket) AS t,
           array_agg(b.mn ORDER BY b.bucket) AS mn,
           array_agg(b.mx ORDER BY b.bucket) AS mx,
           array_agg(b.total / b.n ORDER BY b.bucket) AS mean,
           array_agg(b.n ORDER BY b.bucket) AS n
    FROM (SELECT x.hardware_id, date_bin($6::interval, x.time, $7) AS bucket,
                 min(x.mn) AS mn, max(x.mx) AS mx, sum(x.total) AS total, sum(x.n)::bigint AS n
          FROM ({READINGS}) x
          GROUP BY 1, 2) b
    GROUP BY b.hardware_id
) s
WHERE t.sensor_type IS NOT NULL
ORDER BY 1, 2
"""


def averages(step: str, hardware_ids: str) -> str:
    """The seed's `minute` / `hour` history: one row per sensor type, arrays in time order.

    `hardware_ids` selects `hw`, `last_hw` and `hws` (see history_repository.HARDWARE_IDS).
    """
    return f"""
{MEASURED_TYPES}
{STALE_MINUTES}
SELECT t.sensor_type, h.hw, h.last_hw, h.hws, h.times, h.vals FROM types t
CROSS JOIN LATERAL (
    SELECT {hardware_ids}, array_agg({epoch_micros("b.t")}) AS times, array_agg(b.v) AS vals
    FROM (SELECT x.hardware_id AS hw, date_trunc('{step}', x.time, 'UTC') AS t,
                 sum(x.total) / sum(x.n)::bigint AS v
          FROM ({READINGS}) x
          GROUP BY 1, 2
          ORDER BY 2) b
) h
WHERE t.sensor_type IS NOT NULL AND h.times IS NOT NULL
ORDER BY 1
"""
