"""Retention by batched delete (plain PostgreSQL) and the periodic storage jobs of both paths.

On TimescaleDB `measurements` and `measurements_hourly` are trimmed by retention policies that
drop whole chunks; `device_logs` is an ordinary table on both paths and is trimmed here.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import asyncpg

from sensorhub.config import Settings
from sensorhub.db.rollup import refresh_rollup, rollup_job
from sensorhub.jobs import JobBody

logger = logging.getLogger(__name__)

ROWS_PER_DELETE = 10_000
ROLLUP_INTERVAL_S = 30.0
RETENTION_INTERVAL_S = 3600.0

# Short statements keep locks and WAL bursts small; the delete trigger queues the touched hours.
DELETE_OLD_MEASUREMENTS = """
DELETE FROM measurements WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM measurements WHERE time < $1 LIMIT $2))
"""
DELETE_OLD_LOGS = """
DELETE FROM device_logs WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM device_logs WHERE time < $1 LIMIT $2))
"""


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


async def apply_retention(
    connection: asyncpg.Connection,
    retain_for: timedelta,
    *,
    timescale: bool = False,
    batch_size: int = ROWS_PER_DELETE,
) -> int:
    """Delete rows older than `retain_for`; returns how many measurements were deleted.

    With `timescale`, measurements are left to the TimescaleDB retention policy and only the logs
    are trimmed here.
    """
    cutoff = await connection.fetchval("SELECT now() - $1::interval", retain_for)
    measurements = 0
    if not timescale:
        measurements = await _delete_in_batches(
            connection, DELETE_OLD_MEASUREMENTS, cutoff, batch_size=batch_size
        )
        await refresh_rollup(connection)
    logs = await _delete_in_batches(connection, DELETE_OLD_LOGS, cutoff, batch_size=batch_size)
    if measurements or logs:
        logger.info("retention: deleted %d measurements and %d log lines", measurements, logs)
    return measurements


def storage_jobs(settings: Settings, *, timescale: bool) -> list[tuple[str, float, JobBody]]:
    """The background jobs for this storage path, as (name, interval in seconds, body)."""

    async def retention_job(connection: asyncpg.Connection) -> None:
        await apply_retention(connection, settings.retain_for, timescale=timescale)

    jobs: list[tuple[str, float, JobBody]] = [("retention", RETENTION_INTERVAL_S, retention_job)]
    if not timescale:
        jobs.append(("rollup", ROLLUP_INTERVAL_S, rollup_job))
    return jobs
