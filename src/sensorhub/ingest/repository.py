"""Writes a batch to PostgreSQL in one transaction, with one statement per table and shape."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sensorhub.db.deadline import with_deadline
from sensorhub.db.rollup import BACKFILL_AGE
from sensorhub.ingest.batch import Batch

UPSERT_MEASUREMENTS = """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::float8[])
ON CONFLICT (time, module_id, sensor_type, hardware_id) DO UPDATE SET value = EXCLUDED.value
"""

# Queue the touched hours for the rollup job (sensorhub.db.rollup): a plain insert into an
# append-only queue with no unique key, so it never waits on the job (issue 17's hourly stall).
MARK_ROLLUP_DIRTY = """
INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[])
"""

TOUCH_MODULES = """
INSERT INTO device_system_status (module_id, name, last_seen)
SELECT id, id, seen FROM unnest($1::text[], $2::timestamptz[]) AS t(id, seen)
ON CONFLICT (module_id) DO UPDATE
SET last_seen = GREATEST(device_system_status.last_seen, EXCLUDED.last_seen)
"""

INSERT_LOGS = """
INSERT INTO device_logs (time, module_id, level, message)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])
"""

MODULE_KEYS = {"device_system_status": ("module_id",), "device_hardware": ("module_id",)}
SENSOR_KEYS = ("module_id", "sensor_type")
ALLOWED_COLUMNS = {
    "device_system_status": {
        "module_type", "rssi", "heap_free_kb", "heap_min_free_kb", "heap_total_kb", "ip", "mac",
        "uptime_start", "booted_at", "flash_used_kb", "flash_free_kb", "flash_system_kb",
    },
    "device_hardware": {"chip_model", "chip_rev", "cpu_freq_mhz", "flash_kb", "cores"},
    "sensor_status": {"status", "value"},
    "sensor_config": {"interval_s", "model"},
}  # fmt: skip


def _upsert_sql(table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    names = [*keys, *columns]
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*columns, "updated_at"])
    return (
        f"INSERT INTO {table} ({', '.join(names)}, updated_at) VALUES ({placeholders}, now()) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _grouped_upserts(
    rows: dict[tuple[Any, ...], dict[str, Any]],
) -> dict[str, list[tuple[Any, ...]]]:
    """Group (table, *key) -> fields rows by the statement that writes them."""
    statements: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for (table, *key), fields in rows.items():
        allowed = ALLOWED_COLUMNS[table]
        columns = sorted(name for name in fields if name in allowed)
        if not columns:
            continue
        keys = MODULE_KEYS.get(table, SENSOR_KEYS)
        sql = _upsert_sql(table, keys, columns)
        statements[sql].append((*key, *(fields[c] for c in columns)))
    return statements


def _hours_touched(
    batch: Batch, before: datetime | None = None
) -> tuple[list[datetime], list[str], list[str]]:
    """The distinct (hour, module, sensor) buckets of a batch (only hours starting before
    `before` when given). Computed here: in SQL it cost a third of the write."""
    limit = None if before is None else before.timestamp()
    touched = sorted({(int(t.timestamp()) // 3600, m, s) for t, m, s, _ in batch.measurements})
    if limit is not None:
        touched = [key for key in touched if key[0] * 3600 < limit]
    hours = [datetime.fromtimestamp(hour * 3600, UTC) for hour, _, _ in touched]
    return hours, [m for _, m, _ in touched], [s for _, _, s in touched]


async def write_batch(
    connection: asyncpg.Connection,
    batch: Batch,
    *,
    track_rollup: bool = True,
    backfill_only: bool = False,
) -> None:
    """Write every row of `batch` atomically; the last value of a key wins.

    `track_rollup` queues the touched hours for the rollup job; `backfill_only` (TimescaleDB, whose
    refresh policy covers recent hours) queues only hours older than `rollup.BACKFILL_AGE`.
    """
    async with connection.transaction():
        if batch.last_seen:
            await connection.execute(
                TOUCH_MODULES, list(batch.last_seen), list(batch.last_seen.values())
            )
        for sql, args in _grouped_upserts(batch.module_fields).items():
            await connection.executemany(sql, args)
        for sql, args in _grouped_upserts(batch.sensor_rows).items():
            await connection.executemany(sql, args)
        if batch.measurements:
            columns = list(zip(*batch.measurements.keys(), strict=True))
            await connection.execute(
                UPSERT_MEASUREMENTS, *columns, list(batch.measurements.values())
            )
            if track_rollup:
                before = datetime.now(UTC) - BACKFILL_AGE if backfill_only else None
                hours = _hours_touched(batch, before)
                if hours[0]:
                    await connection.execute(MARK_ROLLUP_DIRTY, *hours)
        if batch.logs:
            await connection.execute(
                INSERT_LOGS,
                [e.time for e in batch.logs],
                [e.module_id for e in batch.logs],
                [e.level for e in batch.logs],
                [e.message for e in batch.logs],
            )


class BatchRepository:
    """Writes batches through a pool, failing fast when the database is unreachable or stalls.

    `write_timeout` (seconds, Settings.ingest_write_timeout) bounds each write: past it the write
    is rolled back and `WriteDeadlineExceeded` raised, so the buffer spools the batch.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        acquire_timeout: float = 5.0,
        track_rollup: bool = True,
        backfill_only: bool = False,
        write_timeout: float = 5.0,
        on_timeout: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._track_rollup = track_rollup
        self._backfill_only = backfill_only
        self._write_timeout = write_timeout
        self._on_timeout = on_timeout

    async def write(self, batch: Batch) -> None:
        async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
            await with_deadline(
                connection,
                write_batch(
                    connection,
                    batch,
                    track_rollup=self._track_rollup,
                    backfill_only=self._backfill_only,
                ),
                timeout=self._write_timeout,
                pool=self._pool,
                on_timeout=self._on_timeout,
            )
