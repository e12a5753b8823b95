"""Retention for every table that grows, by batched delete, and the periodic storage jobs.

| table | kept for (Settings) | how |
|---|---|---|
| `measurements` | `RETAIN_FOR` (90d) | batched delete here; a TimescaleDB retention policy there |
| `measurements_hourly` | `RETAIN_FOR` | follows `measurements`; a policy on TimescaleDB |
| `device_logs` | `DEVICE_LOGS_RETAIN_FOR` (unset = `RETAIN_FOR`) | batched delete, both paths |
| `system_metrics` | `SYSTEM_METRICS_RETAIN_FOR` (30d) | batched delete, both paths |
| `activity_log` | `ACTIVITY_LOG_RETAIN_FOR` (365d) | batched delete once the table exists |

`measurements_rollup_dirty` is a work queue the rollup job empties; the status tables hold one
row per module or sensor and shrink when a module is deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from sensorhub.config import Settings
from sensorhub.db.rollup import refresh_rollup, rollup_job
from sensorhub.jobs import JobBody

logger = logging.getLogger(__name__)

ROWS_PER_DELETE = 10_000
ROLLUP_INTERVAL_S = 30.0
RETENTION_INTERVAL_S = 3600.0
TIME_COLUMNS = ("time", "created_at", "at")
"""Candidates for a table's timestamp column, in order (the activity log is another helper's)."""

# Short statements keep locks and WAL bursts small; the delete trigger queues the touched hours.
DELETE_OLDER_THAN = """
DELETE FROM {table} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2))
"""

TIME_COLUMN = """
SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1 AND column_name = ANY($2::text[])
  AND data_type LIKE 'timestamp%'
"""


@dataclass(frozen=True)
class RetentionRule:
    """Rows of `table` older than `keep_for` are deleted by the retention job."""

    table: str
    keep_for: timedelta


def retention_rules(settings: Settings) -> list[RetentionRule]:
    """Every retention rule except `measurements` (which depends on the storage path)."""
    return [
        RetentionRule("device_logs", settings.device_logs_retain_for or settings.retain_for),
        RetentionRule("system_metrics", settings.system_metrics_retain_for),
        RetentionRule("activity_log", settings.activity_log_retain_for),
    ]


async def _delete_in_batches(
    connection: asyncpg.Connection, sql: str, *args: object, batch_size: int
) -> int:
    total = 0
    while True:
        status = await connection.execute(sql, *args, batch_size)
        deleted = int(status.rsplit(" ", 1)[-1])
        total += deleted
        if deleted < batch_size:
            return total


async def time_column(connection: asyncpg.Connection, table: str) -> str | None:
    """The timestamp column retention uses for `table`; None when the table does not exist."""
    if await connection.fetchval("SELECT to_regclass($1)", table) is None:
        return None
    names = {r["column_name"] for r in await connection.fetch(TIME_COLUMN, table, TIME_COLUMNS)}
    return next((name for name in TIME_COLUMNS if name in names), None)


async def trim_table(
    connection: asyncpg.Connection,
    rule: RetentionRule,
    *,
    batch_size: int = ROWS_PER_DELETE,
) -> int:
    """Delete rows of `rule.table` older than `rule.keep_for`; 0 when the table is absent."""
    column = await time_column(connection, rule.table)
    if column is None:
        return 0
    cutoff = await connection.fetchval("SELECT now() - $1::interval", rule.keep_for)
    sql = DELETE_OLDER_THAN.format(table=rule.table, column=column)
    return await _delete_in_batches(connection, sql, cutoff, batch_size=batch_size)


async def apply_retention(
    connection: asyncpg.Connection,
    retain_for: timedelta,
    *,
    timescale: bool = False,
    batch_size: int = ROWS_PER_DELETE,
    rules: list[RetentionRule] | None = None,
) -> int:
    """Delete rows older than their retention; returns how many measurements were deleted.

    `rules` default to `device_logs` kept for `retain_for`. With `timescale`, measurements are
    left to the TimescaleDB retention policy and only the other tables are trimmed here.
    """
    if rules is None:
        rules = [RetentionRule("device_logs", retain_for)]
    measurements = 0
    if not timescale:
        measurements = await trim_table(
            connection, RetentionRule("measurements", retain_for), batch_size=batch_size
        )
        await refresh_rollup(connection)
    others = {
        rule.table: await trim_table(connection, rule, batch_size=batch_size) for rule in rules
    }
    if measurements or any(others.values()):
        trimmed = ", ".join(f"{count} from {table}" for table, count in others.items())
        logger.info("retention: deleted %d measurements, %s", measurements, trimmed)
    return measurements


def storage_jobs(settings: Settings, *, timescale: bool) -> list[tuple[str, float, JobBody]]:
    """The background jobs for this storage path, as (name, interval in seconds, body).

    The rollup job runs on both paths: on TimescaleDB it refreshes back-filled hours.
    """

    async def retention_job(connection: asyncpg.Connection) -> None:
        await apply_retention(
            connection, settings.retain_for, timescale=timescale, rules=retention_rules(settings)
        )

    return [
        ("retention", RETENTION_INTERVAL_S, retention_job),
        ("rollup", ROLLUP_INTERVAL_S, rollup_job),
    ]
