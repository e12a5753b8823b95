"""Raw readings of one module, paged: by sensor type, then time, then hardware id.

A page of one sensor type is first read in the index's order (time only: no sort, no array of
hardware ids), one reading more than the page holds. That is the exact page when the readings
share one hardware id and the extra reading is later than the last one kept: then every reading
before the extra one is in the page, whatever the order of equal times. Otherwise (several
hardware ids in the page, or a tie at its end) the page is read again, sorted by (time,
hardware id) with each reading's hardware id.

The first read returns each column as JSON number text (`string_agg` of `int8` and `float8`
output, shortest exact floats), which the response embeds as is: decoding twice 86,400 binary
array elements and encoding them again with orjson cost the Python process about 13 ms a day of
1 Hz readings, the text about 4 ms of PostgreSQL CPU. The second read (several hardware ids)
returns binary arrays, split by hardware id in Python and encoded by orjson.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from sensorhub.modules.devices.history_repository import (
    SETTINGS,
    series_key,
    split_by_hardware,
)
from sensorhub.modules.devices.repository import MEASURED_TYPES

RAW_TYPES = f"""
{MEASURED_TYPES}
SELECT sensor_type FROM types WHERE sensor_type IS NOT NULL AND sensor_type >= $2
ORDER BY sensor_type
"""

AFTER = "AND (m.time, m.hardware_id) > ($6, $7)"

_EXACT = """
SELECT min(p.hardware_id) AS hw, max(p.hardware_id) AS last_hw,
       CASE WHEN min(p.hardware_id) <> max(p.hardware_id) THEN array_agg(p.hardware_id) END AS hws,
       array_agg(p.ms) AS t, array_agg(p.value) AS v, max(p.time) AS last_time
FROM (
    SELECT m.hardware_id, (date_part('epoch', m.time) * 1000)::bigint AS ms, m.value, m.time
    FROM measurements m
    WHERE m.module_id = $1 AND m.sensor_type = $2 AND m.time >= $3 AND m.time < $4 {after}
    ORDER BY m.time, m.hardware_id
    LIMIT $5
) p
"""
EXACT = {False: _EXACT.format(after=""), True: _EXACT.format(after=AFTER)}

# $5 + 1 readings in index order. One hardware id: every reading's equals the first's (an
# equality per reading; min/max would compare and copy text per reading). `t`, `v`: the
# readings' JSON numbers separated by commas.
_FIRST = """
SELECT m.hardware_id FROM measurements m
WHERE m.module_id = $1 AND m.sensor_type = $2 AND m.time >= $3 AND m.time < $4 {after}
ORDER BY m.time
LIMIT 1
"""
_FAST = """
WITH first AS ({first})
SELECT (SELECT hardware_id FROM first) AS hw,
       bool_and(p.hardware_id = (SELECT hardware_id FROM first)) AS one_hw, count(*) AS n,
       string_agg(p.ms::text, ',') AS t, string_agg(p.value::text, ',') AS v,
       max(p.time) AS last_time
FROM (
    SELECT m.hardware_id, (date_part('epoch', m.time) * 1000)::bigint AS ms, m.value, m.time
    FROM measurements m
    WHERE m.module_id = $1 AND m.sensor_type = $2 AND m.time >= $3 AND m.time < $4 {after}
    ORDER BY m.time
    LIMIT $5::bigint + 1
) p
"""
FAST = {
    after: _FAST.format(first=_FIRST.format(after=clause), after=clause)
    for after, clause in ((False, ""), (True, AFTER))
}


@dataclass(frozen=True)
class Cursor:
    """Where a raw page ended: the next page holds the readings after (time, hardware id).

    `hardware_id` is empty when the page ended before every reading at `time` (hardware ids
    are never empty: topic levels are not).
    """

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


Columns = dict[str, dict[str, orjson.Fragment]]


@dataclass(frozen=True)
class Part:
    """Readings of one sensor type: per series key, `t` and `v` as JSON numbers separated by
    commas (no brackets); `count` readings in all; the cursor when the page is full."""

    columns: dict[str, tuple[str, str]]
    count: int
    cursor: Cursor | None


@dataclass(frozen=True)
class Span:
    """The readings of one sensor type in [start, end), after `after` when given."""

    module_id: str
    sensor_type: str
    start: datetime
    end: datetime
    after: Cursor | None = None

    def args(self, limit: int) -> tuple[object, ...]:
        """Parameters of FAST / EXACT: $1-$5, and $6-$7 with a cursor."""
        args: tuple[object, ...] = (self.module_id, self.sensor_type, self.start, self.end, limit)
        if self.after is None:
            return args
        return (*args, self.after.time, self.after.hardware_id)


# The shortest text that reads back as the same float8 (PostgreSQL's default since 12).
READING_SETTINGS = f"{SETTINGS}; SET LOCAL extra_float_digits = 1"


async def raw_page(
    pool: asyncpg.Pool,
    module_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: Cursor | None,
) -> tuple[Columns, Cursor | None]:
    """At most `limit` raw readings, by sensor type, then time, then hardware id.

    Returns `{key: {"t": [ms], "v": [...]}}` (JSON fragments) and the cursor for the next page
    (None at the end).
    """
    series: Columns = {}
    left = limit
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute(READING_SETTINGS)
        types = await connection.fetch(RAW_TYPES, module_id, after.sensor_type if after else "")
        for row in types:
            sensor_type: str = row["sensor_type"]
            since = after if after is not None and sensor_type == after.sensor_type else None
            span = Span(module_id, sensor_type, start, end, since)
            part = await _one_type(connection, span, left)
            for key, (t, v) in part.columns.items():
                series[key] = {"t": orjson.Fragment(f"[{t}]"), "v": orjson.Fragment(f"[{v}]")}
            left -= part.count
            if part.cursor is not None:
                return series, part.cursor
    return series, None


async def _one_type(connection: asyncpg.Connection, span: Span, left: int) -> Part:
    """The page's readings of one sensor type, and the cursor when the page is full."""
    sensor_type = span.sensor_type
    after = span.after is not None
    args = span.args(left)
    page = await connection.fetchrow(FAST[after], *args)
    if page is None or not page["n"]:
        return Part({}, 0, None)
    count: int = page["n"]
    t: str = page["t"]
    v: str = _json_numbers(page["v"])
    hardware_id: str = page["hw"]
    if page["one_hw"]:
        key = series_key(hardware_id, sensor_type)
        if count < left:
            return Part({key: (t, v)}, count, None)
        if count == left:
            return Part({key: (t, v)}, count, Cursor(sensor_type, page["last_time"], hardware_id))
        kept_t, _, extra = t.rpartition(",")
        if int(kept_t[kept_t.rfind(",") + 1 :]) < int(extra):  # ms differ, so the times do
            kept_v = v.rpartition(",")[0]
            return Part({key: (kept_t, kept_v)}, left, Cursor(sensor_type, page["last_time"], ""))
    page = await connection.fetchrow(EXACT[after], *args)
    if page is None or page["t"] is None:  # deleted since the first read
        return Part({}, 0, None)
    hardware_ids: list[str] | None = page["hws"]
    read = split_by_hardware(sensor_type, page["hw"], hardware_ids, page["t"], page["v"])
    columns = {key: (_numbers(times), _numbers(values)) for key, (times, values) in read.items()}
    count = len(page["t"])
    if count < left:
        return Part(columns, count, None)
    last = hardware_ids[-1] if hardware_ids else page["last_hw"]
    return Part(columns, count, Cursor(sensor_type, page["last_time"], last))


def _numbers(values: list[Any]) -> str:
    return orjson.dumps(values)[1:-1].decode()


def _json_numbers(text: str) -> str:
    """float8 text as JSON: NaN and infinities (never stored by ingest) become null, as orjson
    writes them."""
    if "N" not in text and "I" not in text:
        return text
    return text.replace("-Infinity", "null").replace("Infinity", "null").replace("NaN", "null")
