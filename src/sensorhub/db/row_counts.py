"""How many rows `measurements` holds, without a full scan once the table is large.

Used by `GET /api/storage` (`db.storage_stats`) and the system-metrics sampler
(`modules.system.sampler`), so both report the same number by the same rule.
"""

from __future__ import annotations

from typing import NamedTuple

import asyncpg

EXACT_COUNT_LIMIT = 1_000_000
"""Above this estimate the count is the planner's estimate instead of `count(*)`."""


class RowCount(NamedTuple):
    """`rows` in the table; `estimated` is True when `rows` is the planner's estimate."""

    rows: int
    estimated: bool


async def measurement_count(
    connection: asyncpg.Connection | asyncpg.Pool, *, hypertable: bool
) -> RowCount:
    """Rows in `measurements`: `count(*)` up to EXACT_COUNT_LIMIT, the estimate above it.

    The estimate is TimescaleDB's `approximate_row_count` on a hypertable, else
    `pg_class.reltuples` (-1 until the table is first vacuumed or analysed, which counts exactly).
    """
    if hypertable:
        estimate = await connection.fetchval("SELECT approximate_row_count('measurements')")
    else:
        estimate = await connection.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'measurements'::regclass"
        )
    if estimate is not None and estimate > EXACT_COUNT_LIMIT:
        return RowCount(int(estimate), estimated=True)
    rows = await connection.fetchval("SELECT count(*) FROM measurements")
    return RowCount(int(rows), estimated=False)
