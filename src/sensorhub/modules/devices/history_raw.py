"""Raw readings of one module, paged: by sensor type, then time, then hardware id.

A page of one sensor type is first read in the index's order (time only: no sort, no array of
hardware ids), one reading more than the page holds. That is the exact page when the readings
share one hardware id and the extra reading is later than the last one kept: then every reading
before the extra one is in the page, whatever the order of equal times. Otherwise (several
hardware ids in the page, or a tie at its end) the page is read again, sorted by (time,
hardware id) with each reading's hardware id.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from sensorhub.modules.devices.history_repository import SETTINGS, split_by_hardware
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
# equality per reading; min/max would compare and copy text per reading).
_FIRST = """
SELECT m.hardware_id FROM measurements m
WHERE m.module_id = $1 AND m.sensor_type = $2 AND m.time >= $3 AND m.time < $4 {after}
ORDER BY m.time
LIMIT 1
"""
_FAST = """
WITH first AS ({first})
SELECT (SELECT hardware_id FROM first) AS hw,
       bool_and(p.hardware_id = (SELECT hardware_id FROM first)) AS one_hw,
       array_agg(p.ms) AS t, array_agg(p.value) AS v, max(p.time) AS last_time
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


Columns = dict[str, dict[str, list[Any]]]


async def raw_page(
    pool: asyncpg.Pool,
    module_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: Cursor | None,
) -> tuple[Columns, Cursor | None]:
    """At most `limit` raw readings, by sensor type, then time, then hardware id.

    Returns `{key: {"t": [ms], "v": [...]}}` and the cursor for the next page (None at the end).
    """
    series: Columns = {}
    left = limit
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        await connection.execute(SETTINGS)
        types = await connection.fetch(RAW_TYPES, module_id, after.sensor_type if after else "")
        for row in types:
            sensor_type: str = row["sensor_type"]
            args: tuple[object, ...] = (module_id, sensor_type, start, end, left)
            if after is not None and sensor_type == after.sensor_type:
                args = (*args, after.time, after.hardware_id)
            read, cursor = await _one_type(connection, sensor_type, args, left)
            series.update(read)
            left -= sum(len(columns["t"]) for columns in read.values())
            if cursor is not None:
                return series, cursor
    return series, None


async def _one_type(
    connection: asyncpg.Connection, sensor_type: str, args: tuple[object, ...], left: int
) -> tuple[Columns, Cursor | None]:
    """The page's readings of one sensor type, and the cursor when the page is full."""
    after = len(args) > 5
    page = await connection.fetchrow(FAST[after], *args)
    if page is None or page["t"] is None:
        return {}, None
    t: list[int] = page["t"]
    v: list[float] = page["v"]
    hardware_id: str = page["hw"]
    if page["one_hw"]:
        key_columns = split_by_hardware(sensor_type, hardware_id, None, t, v)
        if len(t) < left:
            return _columns(key_columns), None
        if len(t) == left:
            return _columns(key_columns), Cursor(sensor_type, page["last_time"], hardware_id)
        if t[left - 1] < t[left]:  # milliseconds differ, so the exact times do
            kept = split_by_hardware(sensor_type, hardware_id, None, t[:left], v[:left])
            return _columns(kept), Cursor(sensor_type, page["last_time"], "")
    page = await connection.fetchrow(EXACT[after], *args)
    if page is None or page["t"] is None:  # deleted since the first read
        return {}, None
    hardware_ids: list[str] | None = page["hws"]
    read = split_by_hardware(sensor_type, page["hw"], hardware_ids, page["t"], page["v"])
    if len(page["t"]) < left:
        return _columns(read), None
    last = hardware_ids[-1] if hardware_ids else page["last_hw"]
    return _columns(read), Cursor(sensor_type, page["last_time"], last)


def _columns(parts: dict[str, list[list[Any]]]) -> Columns:
    return {key: {"t": t, "v": v} for key, (t, v) in parts.items()}
