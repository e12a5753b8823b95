"""SQL for `/api/logs`: `activity_log` and `device_logs` as one list, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

# Both tables in the seed's entry shape. Device log lines are HARDWARE, SYSTEM, IN, with the
# module id in `details` as the seed's backend stores them. Ids are prefixed by table.
ENTRIES = """
SELECT 'a' || a.id AS id, a.time, a.category, a.source, a.direction, a.level,
       a.message AS msg, a.module_id,
       jsonb_strip_nulls(jsonb_build_object('moduleId', a.module_id, 'event', a.event))
           || coalesce(a.details, '{}'::jsonb) AS details
FROM activity_log a
UNION ALL
SELECT 'd' || d.id, d.time, 'HARDWARE', 'SYSTEM', 'IN', d.level, d.message, d.module_id,
       jsonb_build_object('moduleId', d.module_id)
FROM device_logs d
"""


@dataclass
class Filters:
    """`/api/logs` filters; every one is optional and they combine with AND."""

    categories: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    source: str | None = None
    direction: str | None = None
    module_id: str | None = None
    search: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def where(self) -> tuple[str, list[object]]:
        """A WHERE clause over `ENTRIES` columns and its bound arguments ($1, $2, ...)."""
        clauses: list[str] = []
        args: list[object] = []

        def bind(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.categories:
            categories = list(self.categories)
            if "HARDWARE" in categories:
                categories.append("ESP32")  # the seed's older name for HARDWARE
            clauses.append(f"category = ANY({bind(categories)}::text[])")
        if self.levels:
            clauses.append(f"level = ANY({bind(self.levels)}::text[])")
        if self.source:
            clauses.append(f"source = {bind(self.source)}")
        if self.direction:
            clauses.append(f"direction = {bind(self.direction)}")
        if self.module_id:
            clauses.append(f"module_id = {bind(self.module_id)}")
        if self.search:
            pattern = bind("%" + _escape_like(self.search) + "%")
            clauses.append(
                f"(msg ILIKE {pattern} OR level ILIKE {pattern} OR details::text ILIKE {pattern})"
            )
        if self.start:
            clauses.append(f"time >= {bind(self.start)}")
        if self.end:
            clauses.append(f"time <= {bind(self.end)}")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def page(
    pool: asyncpg.Pool, filters: Filters, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """The entries of one page (newest first) and how many match in all."""
    where, args = filters.where()
    n = len(args)
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        rows = await connection.fetch(
            f"SELECT * FROM ({ENTRIES}) e{where} ORDER BY time DESC, id DESC "
            f"LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        total = await connection.fetchval(f"SELECT count(*) FROM ({ENTRIES}) e{where}", *args)
    return rows, int(total)


async def histogram(
    pool: asyncpg.Pool, filters: Filters, slot_seconds: int
) -> list[asyncpg.Record]:
    """`(slot start, category, count)` for every non-empty slot, slots aligned on the epoch."""
    where, args = filters.where()
    slot = f"${len(args) + 1}"
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT to_timestamp(floor(extract(epoch FROM time) / {slot}) * {slot}) AS slot, "
        f"category, count(*) AS count FROM ({ENTRIES}) e{where} GROUP BY 1, 2 ORDER BY 1, 2",
        *args,
        slot_seconds,
    )
    return rows


async def delete_all(pool: asyncpg.Pool) -> int:
    """Delete every entry of both tables; returns how many."""
    async with pool.acquire() as connection, connection.transaction():
        activity = await connection.execute("DELETE FROM activity_log")
        device = await connection.execute("DELETE FROM device_logs")
    return int(activity.split()[-1]) + int(device.split()[-1])
