"""Issue 17's hourly stall: periodic jobs never hold a lock ingest needs, and every ingest write
has a deadline after which its batch is spooled (and replayed later, nothing lost)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.batch_writer import BatchRepository
from sensorhub.db.deadline import WriteDeadlineExceeded
from sensorhub.db.migrate import migrate
from sensorhub.db.retention import apply_retention
from sensorhub.db.rollup import refresh_rollup
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.messages import Accepted, Measurement
from sensorhub.ingest.spool import Spool
from sensorhub.metrics import Metrics
from tests.support import wait_until

HOUR_START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def run_job(
    pool: asyncpg.Pool, body: Callable[[asyncpg.Connection], Awaitable[object]]
) -> bool:
    """Run a periodic job's body once on a pooled connection, as the job runner does; True
    once it has run."""
    async with pool.acquire() as connection:
        await body(connection)
    return True


WAITING_FOR_LOCK = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE $1 AND datname = current_database()
"""


def batch(n: int, *, sensors: int = 4) -> Batch:
    """A batch touching the same current-hour buckets every time (as a steady stream does)."""
    result = Batch()
    for s in range(sensors):
        stamp = HOUR_START + timedelta(seconds=n, milliseconds=s)
        result.add_measurement(Measurement(stamp, "steady-1", f"s{s}", "hw", float(n)))
    return result


@pytest.fixture
async def pool(plain_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    assert not await migrate(Settings(), plain_database_url), "these tests need plain PostgreSQL"
    pool = await asyncpg.create_pool(plain_database_url, min_size=1, max_size=6)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def repositories(pool: asyncpg.Pool) -> AsyncIterator[Callable[..., BatchRepository]]:
    """Makes `BatchRepository(pool, **options)`; each gives its writing connection back to the
    pool at teardown (before the pool closes)."""
    made: list[BatchRepository] = []

    def make(**options: Any) -> BatchRepository:
        made.append(BatchRepository(pool, **options))
        return made[-1]

    yield make
    for repository in made:
        await repository.close()


async def _blocked(pool: asyncpg.Pool, query_like: str) -> bool:
    return bool(await pool.fetchval(WAITING_FOR_LOCK, query_like))


async def test_writes_commit_while_the_rollup_job_is_paused_inside_its_recompute(
    pool: asyncpg.Pool,
    repositories: Callable[..., BatchRepository],
) -> None:
    repository = repositories(write_timeout=60.0)
    for n in range(5):
        await repository.write(batch(n))

    # Pause the job inside its recompute: it has read the queue and waits to write the rollup.
    holder = await pool.acquire()
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE measurements_hourly_rollup IN ACCESS EXCLUSIVE MODE")
    job = asyncio.create_task(run_job(pool, refresh_rollup))
    try:
        await wait_until(
            lambda: _blocked(pool, "%measurements_minute_rollup%"), what="rollup paused"
        )
        # A steady stream re-dirtying the very buckets the job holds commits batch after batch.
        for n in range(5, 25):
            await repository.write(batch(n))
        assert not job.done()
        assert await pool.fetchval("SELECT count(*) FROM measurements") == 25 * 4
        # So do deletes (module removal, retention): the delete trigger queues without waiting.
        await pool.execute("DELETE FROM measurements WHERE module_id = 'steady-1' AND value = 0")
    finally:
        await transaction.rollback()
        await pool.release(holder)
    assert await job
    # Once resumed and run again, the rollup agrees with the raw rows.
    async with pool.acquire() as connection:
        await refresh_rollup(connection)
    hourly = await pool.fetch(
        "SELECT sensor_type, count, min, max FROM measurements_hourly ORDER BY sensor_type"
    )
    assert [tuple(r) for r in hourly] == [(f"s{s}", 24, 1.0, 24.0) for s in range(4)]
    assert await pool.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 0


async def test_the_retention_job_does_not_block_writes_either(
    pool: asyncpg.Pool, repositories: Callable[..., BatchRepository]
) -> None:
    repository = repositories(write_timeout=60.0)
    await repository.write(batch(0))
    holder = await pool.acquire()
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE measurements_hourly_rollup IN ACCESS EXCLUSIVE MODE")

    async def retention(connection: asyncpg.Connection) -> None:
        await apply_retention(connection, timedelta(days=90))

    job = asyncio.create_task(run_job(pool, retention))
    try:
        await wait_until(lambda: _blocked(pool, "%measurements_minute_rollup%"), what="paused")
        for n in range(1, 10):
            await repository.write(batch(n))
    finally:
        await transaction.rollback()
        await pool.release(holder)
    assert await job
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 10 * 4


def reading(n: int) -> Accepted:
    stamp = (HOUR_START + timedelta(seconds=n)).isoformat()
    result = interpret(
        "stall-1/temperature", f'{{"value": {n}, "time": "{stamp}"}}'.encode(), datetime.now(UTC)
    )
    assert isinstance(result, Accepted)
    return result


async def test_a_write_past_its_deadline_is_spooled_counted_logged_and_replayed(
    pool: asyncpg.Pool,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    repositories: Callable[..., BatchRepository],
) -> None:
    metrics = Metrics()
    repository = repositories(write_timeout=0.5, on_timeout=metrics.ingest_write_timeouts.inc)
    buffer = IngestBuffer(
        repository.write, Spool(tmp_path / "spool", 1 << 24), metrics, max_size=10, max_age=3600
    )
    async with buffer.running(replay_timeout=60):
        blocker = await pool.acquire()
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE measurements IN EXCLUSIVE MODE")
        try:
            with caplog.at_level(logging.WARNING):
                # Acknowledged (durable) although the database never answered: spooled.
                await asyncio.wait_for(
                    asyncio.gather(*[buffer.add(reading(n)) for n in range(10)]), 60
                )
                # Ingestion carries on while the lock is held.
                await asyncio.wait_for(
                    asyncio.gather(*[buffer.add(reading(n)) for n in range(10, 20)]), 60
                )
            assert metrics.ingest_write_timeouts._value.get() >= 1
            assert metrics.spooled._value.get() == 20
            stall = [r.getMessage() for r in caplog.records if "deadline" in r.getMessage()]
            assert stall and "wait_event_type=Lock" in stall[0]
            assert "LOCK TABLE measurements" in stall[0]
            # The rolled-back write left nothing half-written and the queue row of no batch.
            assert await pool.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 0
        finally:
            await transaction.rollback()
            await pool.release(blocker)
    values = await pool.fetch(
        "SELECT value FROM measurements WHERE module_id = 'stall-1' ORDER BY time"
    )
    assert [r["value"] for r in values] == [float(n) for n in range(20)]
    assert metrics.replayed._value.get() == 20


async def test_the_deadline_error_names_what_the_write_waited_on(
    pool: asyncpg.Pool, repositories: Callable[..., BatchRepository]
) -> None:
    repository = repositories(write_timeout=0.2)
    blocker = await pool.acquire()
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE measurements IN EXCLUSIVE MODE")
    try:
        with pytest.raises(WriteDeadlineExceeded, match="wait_event_type=Lock"):
            await repository.write(batch(0))
    finally:
        await transaction.rollback()
        await pool.release(blocker)
    await repository.write(batch(1))  # the pool recovered from the terminated connection
    assert await pool.fetchval("SELECT count(*) FROM measurements") == 4
