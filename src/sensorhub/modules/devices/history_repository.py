"""History SQL: one series per hardware id and sensor type, never merged (issue 12 item 7).

Every query finds the module's sensor types by skip scan, then reads each type's range from the
(module_id, sensor_type, time) INCLUDE (value, hardware_id) index alone (index-only scans).
PostgreSQL returns one row per series holding arrays (binary, decoded by asyncpg in C); Python
only assembles them and orjson encodes them: no JSON is built as text in SQL.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from sensorhub.ingest.topics import DEFAULT_HARDWARE_ID
from sensorhub.modules.devices.repository import MEASURED_TYPES

Step = Literal["raw", "minute", "hour"]

# No JIT (its compile time exceeds these queries' run time); buckets in UTC.
SETTINGS = "SET LOCAL jit = off; SET LOCAL TimeZone = 'UTC'"


def series_key(hardware_id: str, sensor_type: str) -> str:
    """`dht22:temperature`; without a hardware level (`{id}/temperature`): `temperature`."""
    return sensor_type if hardware_id == DEFAULT_HARDWARE_ID else f"{hardware_id}:{sensor_type}"


def _history_sql(step: Step) -> str:
    if step == "raw":
        inner = "SELECT m.hardware_id, m.time AS t, m.value AS v FROM measurements m"
        group = ""
    else:
        inner = (
            f"SELECT m.hardware_id, date_trunc('{step}', m.time) AS t, avg(m.value) AS v "
            "FROM measurements m"
        )
        group = "GROUP BY 1, 2"
    return f"""
{MEASURED_TYPES}
SELECT t.sensor_type, h.hardware_id, h.times, h.vals FROM types t
CROSS JOIN LATERAL (
    SELECT b.hardware_id, array_agg(b.t ORDER BY b.t) AS times, array_agg(b.v ORDER BY b.t) AS vals
    FROM ({inner}
          WHERE m.module_id = $1 AND m.sensor_type = t.sensor_type
            AND m.time >= $2 AND m.time < $3
          {group}) b
    GROUP BY b.hardware_id
) h
WHERE t.sensor_type IS NOT NULL
ORDER BY 1, 2
"""


HISTORY_SQL: dict[Step, str] = {step: _history_sql(step) for step in ("raw", "minute", "hour")}


async def history_points(
    pool: asyncpg.Pool, module_id: str, start: datetime, end: datetime, step: Step
) -> dict[str, list[dict[str, Any]]]:
    """`{"dht22:temperature": [{"time": datetime, "value": 21.5}, ...]}`, oldest first.

    `raw` returns every reading in [start, end); `minute` and `hour` the average per UTC
    minute or hour (buckets starting before `start` hold only the readings inside the range).
    """
    rows = await _fetch(pool, HISTORY_SQL[step], module_id, start, end)
    return {
        series_key(row["hardware_id"], row["sensor_type"]): [
            {"time": time, "value": value}
            for time, value in zip(row["times"], row["vals"], strict=True)
        ]
        for row in rows
    }


def _series_sql(timescale: bool) -> str:
    bucket = (
        "time_bucket($4::interval, m.time, origin => $2)"
        if timescale
        else "date_bin($4::interval, m.time, $2)"
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
    """
    rows = await _fetch(
        pool, SERIES_SQL[timescale], module_id, start, end, timedelta(seconds=bucket_seconds)
    )
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


RAW_TYPES = f"""
{MEASURED_TYPES}
SELECT sensor_type FROM types WHERE sensor_type IS NOT NULL AND sensor_type >= $2
ORDER BY sensor_type
"""

RAW_PAGE = """
SELECT m.hardware_id, (date_part('epoch', m.time) * 1000)::bigint AS t, m.value, m.time
FROM measurements m
WHERE m.module_id = $1 AND m.sensor_type = $2 AND m.time >= $3 AND m.time < $4
  AND (m.time, m.hardware_id) > ($5, $6)
ORDER BY m.time, m.hardware_id
LIMIT $7
"""


@dataclass(frozen=True)
class Cursor:
    """Where a raw page ended: the last (sensor type, time, hardware id) returned."""

    sensor_type: str
    time: datetime
    hardware_id: str

    def encode(self) -> str:
        text = json.dumps([self.sensor_type, self.time.isoformat(), self.hardware_id])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Raises ValueError for anything `encode` did not produce."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            sensor_type, time, hardware_id = json.loads(raw)
            when = datetime.fromisoformat(time)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
            raise ValueError("not a cursor returned by this endpoint") from error
        if not (isinstance(sensor_type, str) and isinstance(hardware_id, str)) or not when.tzinfo:
            raise ValueError("not a cursor returned by this endpoint")
        return cls(sensor_type, when, hardware_id)


async def raw_page(
    pool: asyncpg.Pool,
    module_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: Cursor | None,
) -> tuple[dict[str, dict[str, list[Any]]], Cursor | None]:
    """At most `limit` raw readings, by sensor type, then time, then hardware id.

    Returns `{key: {"t": [ms], "v": [...]}}` and the cursor for the next page (None at the end).
    """
    series: dict[str, dict[str, list[Any]]] = {}
    left = limit
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute(SETTINGS)
        types = await connection.fetch(RAW_TYPES, module_id, after.sensor_type if after else "")
        for row in types:
            sensor_type: str = row["sensor_type"]
            if after is not None and sensor_type == after.sensor_type:
                args: tuple[object, ...] = (after.time, after.hardware_id, left)
                points = await connection.fetch(RAW_PAGE, module_id, sensor_type, start, end, *args)
            else:
                points = await connection.fetch(
                    FROM_START, module_id, sensor_type, start, end, left
                )
            _append(series, sensor_type, points)
            left -= len(points)
            if left == 0:
                last = points[-1]
                return series, Cursor(sensor_type, last["time"], last["hardware_id"])
    return series, None


FROM_START = """
SELECT m.hardware_id, (date_part('epoch', m.time) * 1000)::bigint AS t, m.value, m.time
FROM measurements m
WHERE m.module_id = $1 AND m.sensor_type = $2 AND m.time >= $3 AND m.time < $4
ORDER BY m.time, m.hardware_id
LIMIT $5
"""


def _append(
    series: dict[str, dict[str, list[Any]]], sensor_type: str, points: Sequence[asyncpg.Record]
) -> None:
    for point in points:
        entry = series.setdefault(series_key(point["hardware_id"], sensor_type), {"t": [], "v": []})
        entry["t"].append(point["t"])
        entry["v"].append(point["value"])


async def _fetch(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute(SETTINGS)
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
    return rows
