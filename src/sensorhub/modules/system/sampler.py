"""The metrics sampler: one `system_metrics` row per run (database size, rows, modules, rate).

It runs as a periodic job under an advisory lock, so with several instances on one database one of
them samples. The ingest rate is therefore measured in the database, not from this instance's
counters: rows whose timestamp falls between the previous sample and now, per second. (Late data
with old timestamps is not counted; the primary key starts with `time`, so this is a range scan.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from sensorhub.db.row_counts import measurement_count
from sensorhub.modules.system.repository import database_size, is_hypertable

FIRST_WINDOW = timedelta(minutes=5)
"""Without a previous sample (or after a long pause), the rate covers this window."""

MAX_WINDOW = timedelta(days=1)

INSERT_SAMPLE = """
INSERT INTO system_metrics (time, db_size_bytes, measurement_count, module_count, ingest_rate)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (time) DO NOTHING
"""


async def sample_metrics(connection: asyncpg.Connection, *, now: datetime | None = None) -> None:
    """Write one `system_metrics` sample taken now."""
    now = now or datetime.now(UTC)
    previous = await connection.fetchval(
        "SELECT max(time) FROM system_metrics WHERE time < $1", now
    )
    since = previous if previous is not None and now - previous <= MAX_WINDOW else None
    since = since or now - FIRST_WINDOW
    recent = await connection.fetchval(
        "SELECT count(*) FROM measurements WHERE time > $1 AND time <= $2", since, now
    )
    elapsed = (now - since).total_seconds()
    size_bytes, _ = await database_size(connection)
    count, _ = await measurement_count(connection, hypertable=await is_hypertable(connection))
    modules = await connection.fetchval("SELECT count(*) FROM device_system_status")
    await connection.execute(
        INSERT_SAMPLE, now, size_bytes, count, modules, recent / elapsed if elapsed > 0 else 0.0
    )
