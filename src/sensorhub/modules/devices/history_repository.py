"""History queries: one series per hardware id and sensor type, never merged (issue 12 item 7).

Every query finds the module's sensor types by skip scan, then reads each type's range from the
(module_id, sensor_type, time) INCLUDE (value, hardware_id) index alone (index-only scans), or,
for averages of whole minutes on plain PostgreSQL, mostly from the minute rollup
(`history_sql`). PostgreSQL returns one row per series holding arrays (binary, decoded by
asyncpg in C); Python only assembles them and orjson encodes them: no JSON is built as text in SQL.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
import orjson

from sensorhub.ingest.topics import DEFAULT_HARDWARE_ID
from sensorhub.modules.devices import history_sql
from sensorhub.modules.devices.history_json import points_json
from sensorhub.modules.devices.repository import MEASURED_TYPES

Step = Literal["raw", "minute", "hour"]

# No JIT (its compile time exceeds these queries' run time); buckets in UTC.
SETTINGS = "SET LOCAL jit = off; SET LOCAL TimeZone = 'UTC'"


def series_key(hardware_id: str, sensor_type: str) -> str:
    """`dht22:temperature`; without a hardware level (`{id}/temperature`): `temperature`."""
    return sensor_type if hardware_id == DEFAULT_HARDWARE_ID else f"{hardware_id}:{sensor_type}"


# Per-row hardware ids cost an array of strings per reading, and are needed only when a sensor
# type has several (rare): the query first runs without them (`HARDWARE_IDS[False]`) and again
# with them for a range where min and max differ. "C": byte comparison, no locale collation.
HARDWARE_IDS = {
    False: 'min(b.hw COLLATE "C") AS hw, max(b.hw COLLATE "C") AS last_hw, NULL::text[] AS hws',
    True: 'min(b.hw COLLATE "C") AS hw, max(b.hw COLLATE "C") AS last_hw, array_agg(b.hw) AS hws',
}


def _history_sql(step: Step, split: bool) -> str:
    # Arrays filled in the subquery's order (the index's time order for raw readings, so no
    # sort), one row per sensor type; Python splits them by hardware id, keeping time order.
    if step == "raw":
        inner = "SELECT m.hardware_id AS hw, m.time AS t, m.value AS v FROM measurements m"
        group = ""
    else:
        inner = (
            f"SELECT m.hardware_id AS hw, date_trunc('{step}', m.time) AS t, avg(m.value) AS v "
            "FROM measurements m"
        )
        group = "GROUP BY 1, 2"
    return f"""
{MEASURED_TYPES}
SELECT t.sensor_type, h.hw, h.last_hw, h.hws, h.times, h.vals FROM types t
CROSS JOIN LATERAL (
    SELECT {HARDWARE_IDS[split]}, array_agg({history_sql.epoch_micros("b.t")}) AS times,
           array_agg(b.v) AS vals
    FROM ({inner}
          WHERE m.module_id = $1 AND m.sensor_type = t.sensor_type
            AND m.time >= $2 AND m.time < $3
          {group}
          ORDER BY 2) b
) h
WHERE t.sensor_type IS NOT NULL AND h.times IS NOT NULL
ORDER BY 1
"""


HISTORY_SQL: dict[tuple[Step, bool], str] = {
    (step, split): _history_sql(step, split)
    for step in ("raw", "minute", "hour")
    for split in (False, True)
}
ROLLUP_HISTORY_SQL: dict[tuple[Step, bool], str] = {
    (step, split): history_sql.averages(step, HARDWARE_IDS[split])
    for step in ("minute", "hour")
    for split in (False, True)
}


def split_by_hardware(
    sensor_type: str, hardware_id: str, hardware_ids: list[str] | None, *columns: list[Any]
) -> dict[str, list[list[Any]]]:
    """Parallel arrays of one sensor type → per series key, the same columns (order kept).

    `hardware_ids` is None when every reading has `hardware_id`: no per-row work then.
    """
    if hardware_ids is None:
        return {series_key(hardware_id, sensor_type): list(columns)}
    parts: dict[str, list[list[Any]]] = {}
    for index, hardware_id in enumerate(hardware_ids):
        key = series_key(hardware_id, sensor_type)
        target = parts.get(key)
        if target is None:
            target = parts[key] = [[] for _ in columns]
        for column, values in zip(target, columns, strict=True):
            column.append(values[index])
    return parts


async def history_points(
    pool: asyncpg.Pool,
    module_id: str,
    start: datetime,
    end: datetime,
    step: Step,
    *,
    timescale: bool,
) -> dict[str, orjson.Fragment]:
    """`{"dht22:temperature": [{"time": "…Z", "value": 21.5}, ...]}` (JSON per key), newest first.

    Newest first as the seed's Node backend answers: its dashboard shows a list's first point
    (after reversing it) as the card's current value until a live event arrives.

    `raw` returns every reading in [start, end); `minute` and `hour` the average per UTC
    minute or hour (buckets starting before `start` hold only the readings inside the range).
    """
    args: tuple[object, ...] = (module_id, start, end)
    sql = HISTORY_SQL
    if step != "raw" and not timescale:
        sql, args = ROLLUP_HISTORY_SQL, (*args, *history_sql.whole_minutes(start, end))
    rows = await _fetch(pool, sql[step, False], *args)
    if any(row["hw"] != row["last_hw"] for row in rows):
        rows = await _fetch(pool, sql[step, True], *args)
    history: dict[str, orjson.Fragment] = {}
    for row in rows:
        for key, (times, values) in split_by_hardware(
            row["sensor_type"], row["hw"], row["hws"], row["times"], row["vals"]
        ).items():
            times.reverse()
            values.reverse()
            history[key] = points_json(times, values)
    return dict(sorted(history.items()))


MINUTE_BUCKETS_FROM_S = 30


def bucket_width(start: datetime, end: datetime, points: int) -> int:
    """Seconds per bucket for at most `points` buckets over [start, end).

    From half a minute on, whole minutes (a 30-59 s width becomes a minute: fewer buckets,
    never more than `points`), so that a range starting on a minute reads the minute rollup.
    """
    width = max(1, math.ceil((end - start).total_seconds() / points))
    if width < MINUTE_BUCKETS_FROM_S:
        return width
    return 60 * math.ceil((end - start).total_seconds() / points / 60)


def _series_sql(timescale: bool) -> str:
    # $5: the buckets' origin.
    bucket = (
        "time_bucket($4::interval, m.time, origin => $5)"
        if timescale
        else "date_bin($4::interval, m.time, $5)"
    )
    return f"""
{MEASURED_TYPES}
SELECT t.sensor_type, s.hardware_id, s.t, s.mn, s.mx, s.mean, s.n FROM types t
CROSS JOIN LATERAL (
    SELECT b.hardware_id,
           array_agg((date_part('epoch', b.bucket) * 1000)::bigint ORDER BY b.bucket) AS t,
           array_agg(b.mn ORDER BY b.bucket) AS mn,
           array_agg(b.mx ORDER BY b.bucket) AS mx,
           array_agg(b.mean ORDER BY b.bucket) AS mean,
           array_agg(b.n ORDER BY b.bucket) AS n
    FROM (SELECT m.hardware_id, {bucket} AS bucket,
                 min(m.value) AS mn, max(m.value) AS mx, avg(m.value) AS mean, count(*) AS n
          FROM measurements m
          WHERE m.module_id = $1 AND m.sensor_type = t.sensor_type
            AND m.time >= $2 AND m.time < $3
          GROUP BY 1, 2) b
    GROUP BY b.hardware_id
) s
WHERE t.sensor_type IS NOT NULL
ORDER BY 1, 2
"""


SERIES_SQL = {False: _series_sql(False), True: _series_sql(True)}


async def bucketed_series(
    pool: asyncpg.Pool,
    module_id: str,
    start: datetime,
    end: datetime,
    bucket_seconds: int,
    *,
    timescale: bool,
) -> dict[str, dict[str, list[Any]]]:
    """Per series `{"t": [ms], "min": [...], "max": [...], "mean": [...], "count": [...]}`.

    Buckets are `bucket_seconds` wide and aligned on `start`; `t` is each bucket's start in
    milliseconds since the epoch. Buckets without readings are left out (a gap in the chart).
    On plain PostgreSQL, whole-minute buckets from the start of a minute read the minute rollup.
    """
    width = timedelta(seconds=bucket_seconds)
    on_minutes = bucket_seconds % 60 == 0 and start == history_sql.floor_minute(start)
    if timescale or not on_minutes:
        rows = await _fetch(pool, SERIES_SQL[timescale], module_id, start, end, width, start)
    else:
        inner = history_sql.whole_minutes(start, end)
        rows = await _fetch(pool, history_sql.SERIES, module_id, start, end, *inner, width, start)
    return {
        series_key(row["hardware_id"], row["sensor_type"]): {
            "t": row["t"],
            "min": row["mn"],
            "max": row["mx"],
            "mean": row["mean"],
            "count": row["n"],
        }
        for row in rows
    }


async def _fetch(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute(SETTINGS)
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
    return rows
