"""Plain-PostgreSQL storage on a real database: hourly rollup, retention, migrations, report."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.migrate import downgrade_schema, migrate, upgrade_schema
from sensorhub.db.retention import apply_retention, storage_jobs
from sensorhub.db.rollup import refresh_rollup
from sensorhub.db.storage_stats import storage_report
from sensorhub.db.writes import write_batch
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import LogEntry, Measurement
from tests.support import RunningApp

HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

Reading = tuple[datetime, str, str, str, float]

HOURLY = """
SELECT bucket, module_id, sensor_type, avg, min, max, count FROM measurements_hourly
ORDER BY bucket, module_id, sensor_type
"""

DIRECT = """
SELECT date_trunc('hour', time, 'UTC') AS bucket, module_id, sensor_type,
       avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count
FROM measurements GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


MINUTES = """
SELECT bucket, module_id, sensor_type, hardware_id, sum, count, min, max
FROM measurements_minute_rollup ORDER BY 1, 2, 3, 4
"""

DIRECT_MINUTES = """
SELECT date_trunc('minute', time, 'UTC') AS bucket, module_id, sensor_type, hardware_id,
       sum(value) AS sum, count(*) AS count, min(value) AS min, max(value) AS max
FROM measurements GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""


def batch_of(readings: Iterable[Reading], logs: Iterable[LogEntry] = ()) -> Batch:
    batch = Batch()
    for reading in readings:
        batch.add_measurement(Measurement(*reading))
    batch.logs.extend(logs)
    return batch


def rows(records: list[asyncpg.Record]) -> list[tuple[object, ...]]:
    return [tuple(r) for r in records]


def assert_same_aggregates(actual: list[asyncpg.Record], expected: list[asyncpg.Record]) -> None:
    assert [tuple(r)[:3] for r in actual] == [tuple(r)[:3] for r in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got["avg"] == pytest.approx(want["avg"], rel=1e-12)
        assert (got["min"], got["max"], got["count"]) == (want["min"], want["max"], want["count"])


@pytest.fixture
async def db(plain_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    assert not await migrate(Settings(), plain_database_url), "these tests need plain PostgreSQL"
    connection = await asyncpg.connect(plain_database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_rollup_matches_known_values_with_updates_and_late_data(
    db: asyncpg.Connection,
) -> None:
    await write_batch(
        db,
        batch_of(
            [
                (T0, "m1", "temp", "a", 10.0),
                (T0 + timedelta(minutes=10), "m1", "temp", "a", 20.0),
                (T0 + timedelta(minutes=10), "m1", "temp", "b", 30.0),
                (T0 + timedelta(minutes=59), "m1", "hum", "a", 50.0),
                (T0 + HOUR, "m1", "temp", "a", 5.0),
            ]
        ),
    )
    assert await refresh_rollup(db) == 4  # (minute, module, sensor) buckets
    assert rows(await db.fetch(HOURLY)) == [
        (T0, "m1", "hum", 50.0, 50.0, 50.0, 1),
        (T0, "m1", "temp", 20.0, 10.0, 30.0, 3),
        (T0 + HOUR, "m1", "temp", 5.0, 5.0, 5.0, 1),
    ]

    # A repeated key replaces its value; a late reading lands in an hour days back.
    late = T0 - timedelta(days=5)
    await write_batch(
        db,
        batch_of([(T0, "m1", "temp", "a", 40.0), (late, "m1", "temp", "a", 1.5)]),
    )
    assert await refresh_rollup(db) == 2
    assert await refresh_rollup(db) == 0
    assert rows(await db.fetch(HOURLY)) == [
        (late, "m1", "temp", 1.5, 1.5, 1.5, 1),
        (T0, "m1", "hum", 50.0, 50.0, 50.0, 1),
        (T0, "m1", "temp", 30.0, 20.0, 40.0, 3),
        (T0 + HOUR, "m1", "temp", 5.0, 5.0, 5.0, 1),
    ]

    # Deleting rows (as deleting a module does) empties their hours.
    await db.execute("DELETE FROM measurements WHERE sensor_type = 'temp'")
    await refresh_rollup(db)
    assert rows(await db.fetch(HOURLY)) == [(T0, "m1", "hum", 50.0, 50.0, 50.0, 1)]


async def test_hourly_answers_equal_a_direct_aggregate(db: asyncpg.Connection) -> None:
    rng = random.Random(6)
    start = T0 - timedelta(days=3)
    readings = {
        (start + timedelta(seconds=rng.randrange(0, 3 * 86400)), f"m{m}", sensor, hw): rng.uniform(
            -20, 40
        )
        for _ in range(3000)
        for m in [rng.randrange(3)]
        for sensor in [rng.choice(["temp", "hum", "co2"])]
        for hw in [rng.choice(["a", "b"])]
    }
    items = [(*key, value) for key, value in readings.items()]
    for i in range(0, len(items), 500):  # several batches, some overwriting earlier keys
        chunk = items[i : i + 500]
        await write_batch(db, batch_of(chunk))
        await write_batch(db, batch_of((*r[:4], r[4] + 1) for r in chunk[:50]))
    await refresh_rollup(db)
    assert_same_aggregates(await db.fetch(HOURLY), await db.fetch(DIRECT))
    assert rows(await db.fetch(MINUTES)) == rows(await db.fetch(DIRECT_MINUTES))

    # A day-resolution history answer built from the hourly rows equals the raw computation.
    daily_from_hourly = await db.fetch(
        """
        SELECT date_trunc('day', bucket, 'UTC') AS day, module_id, sensor_type,
               sum(avg * count) / sum(count) AS avg, min(min) AS min, max(max) AS max,
               sum(count)::bigint AS count
        FROM measurements_hourly GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """
    )
    daily_direct = await db.fetch(
        """
        SELECT date_trunc('day', time, 'UTC') AS day, module_id, sensor_type, avg(value) AS avg,
               min(value) AS min, max(value) AS max, count(*) AS count
        FROM measurements GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """
    )
    assert_same_aggregates(daily_from_hourly, daily_direct)


async def test_rollup_never_misses_a_writer_still_in_its_transaction(
    db: asyncpg.Connection, database_url: str
) -> None:
    await write_batch(db, batch_of([(T0, "m1", "temp", "a", 1.0)]))
    writer = await asyncpg.connect(database_url)
    try:
        transaction = writer.transaction()
        await transaction.start()
        await write_batch(writer, batch_of([(T0 + timedelta(minutes=1), "m1", "temp", "a", 3.0)]))
        # The run neither waits for the writer nor takes its queue row: it recomputes what is
        # committed, and the writer's row stays queued for the next run.
        assert await refresh_rollup(db) == 1
        assert rows(await db.fetch(HOURLY)) == [(T0, "m1", "temp", 1.0, 1.0, 1.0, 1)]
        await transaction.commit()
    finally:
        await writer.close()
    assert await refresh_rollup(db) == 1
    assert rows(await db.fetch(HOURLY)) == [(T0, "m1", "temp", 2.0, 1.0, 3.0, 2)]


async def test_retention_removes_only_old_rows(db: asyncpg.Connection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = [(now - timedelta(days=100, minutes=i), "m1", "temp", "a", float(i)) for i in range(25)]
    recent = [(now - timedelta(days=89, minutes=i), "m1", "temp", "a", float(i)) for i in range(7)]
    logs = [
        LogEntry(now - timedelta(days=91), "m1", "info", "old"),
        LogEntry(now - timedelta(days=1), "m1", "info", "new"),
    ]
    await write_batch(db, batch_of(old + recent, logs))
    await refresh_rollup(db)

    deleted = await apply_retention(db, timedelta(days=90), batch_size=10)

    assert deleted == 25
    assert await db.fetchval("SELECT count(*) FROM measurements") == 7
    assert await db.fetchval("SELECT min(time) FROM measurements") == min(r[0] for r in recent)
    assert [r["message"] for r in await db.fetch("SELECT message FROM device_logs")] == ["new"]
    assert_same_aggregates(await db.fetch(HOURLY), await db.fetch(DIRECT))
    assert await db.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 0
    assert await apply_retention(db, timedelta(days=90)) == 0


async def test_migrations_re_run_and_0002_downgrades_and_backfills(plain_database_url: str) -> None:
    await migrate(Settings(), plain_database_url)
    await migrate(Settings(), plain_database_url)
    connection = await asyncpg.connect(plain_database_url)
    try:
        assert await _objects(connection) == {
            "measurements_hourly",
            "measurements_hourly_rollup",
            "measurements_rollup_dirty",
            "measurements_rollup_on_delete",
        }
        await asyncio.to_thread(downgrade_schema, plain_database_url, "0001")
        assert await _objects(connection) == set()
        await connection.execute(
            "INSERT INTO measurements VALUES ($1, 'm1', 't', 'a', 2), ($2, 'm1', 't', 'a', 4)",
            T0,
            T0 + timedelta(minutes=5),
        )
        await asyncio.to_thread(upgrade_schema, plain_database_url)
        assert rows(await connection.fetch(HOURLY)) == [(T0, "m1", "t", 3.0, 2.0, 4.0, 2)]
    finally:
        await connection.close()


async def _objects(connection: asyncpg.Connection) -> set[str]:
    records = await connection.fetch(
        """
        SELECT relname AS name FROM pg_class
        WHERE relnamespace = 'public'::regnamespace
          AND relname IN ('measurements_hourly', 'measurements_hourly_rollup',
                          'measurements_rollup_dirty')
        UNION ALL
        SELECT tgname FROM pg_trigger WHERE tgname = 'measurements_rollup_on_delete'
        """
    )
    return {r["name"] for r in records}


async def test_storage_report_on_plain_postgresql(db: asyncpg.Connection) -> None:
    await write_batch(
        db, batch_of([(T0, "m1", "temp", "a", 1.0), (T0 + HOUR, "m1", "temp", "a", 2.0)])
    )
    report = await storage_report(db, timescale=False)
    assert report["storage"] == "postgresql"
    assert report["timescaledb"] is None
    assert report["timescaledb_version"] is None
    assert report["database_bytes"] > 0 and report["database_size"]
    assert report["measurements"] == {
        "count": 2,
        "count_is_estimate": False,
        "oldest": T0,
        "newest": T0 + HOUR,
    }
    assert report["rollup_pending_buckets"] == 2
    names = [t["name"] for t in report["tables"]]
    assert names[:3] == ["measurements", "measurements_hourly_rollup", "measurements_rollup_dirty"]
    assert all(t["bytes"] > 0 and t["size"] for t in report["tables"])


async def test_storage_jobs_per_path() -> None:
    settings = Settings()
    assert [name for name, _, _ in storage_jobs(settings, timescale=False)] == [
        "retention",
        "rollup",
    ]
    assert [name for name, _, _ in storage_jobs(settings, timescale=True)] == [
        "retention",
        "rollup",
    ]


async def test_the_running_app_tracks_the_rollup(app: RunningApp) -> None:
    names = [job.name for job in app.runtime.jobs]
    assert names.count("rollup") == 1 and names.count("retention") == 1


async def test_backfill_only_queues_minutes_of_hours_older_than_the_aggregate_covers(
    db: asyncpg.Connection,
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    await write_batch(
        db,
        batch_of([(old, "m1", "temp", "a", 1.0), (now, "m1", "temp", "a", 2.0)]),
        backfill_only=True,
    )
    queued = await db.fetch("SELECT bucket FROM measurements_rollup_dirty")
    assert [r["bucket"] for r in queued] == [old.replace(second=0, microsecond=0)]


async def test_the_queue_takes_duplicates_and_0004_downgrades_to_the_unique_key(
    plain_database_url: str,
) -> None:
    await migrate(Settings(), plain_database_url)
    connection = await asyncpg.connect(plain_database_url)
    try:
        for value in (1.0, 2.0):  # the same bucket twice: two queue rows, no conflict
            await write_batch(connection, batch_of([(T0, "m1", "temp", "a", value)]))
        assert await connection.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 2
        await asyncio.to_thread(downgrade_schema, plain_database_url, "0003")
        assert await connection.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 1
        await connection.execute("DELETE FROM measurements")  # the old trigger still queues
        await asyncio.to_thread(upgrade_schema, plain_database_url)
        assert await refresh_rollup(connection) == 60  # 0009_p: the queued hour's minutes
        assert await connection.fetchval("SELECT count(*) FROM measurements_hourly") == 0
    finally:
        await connection.close()


async def test_a_run_collapses_repeated_buckets_and_resumes_after_dying(
    db: asyncpg.Connection,
) -> None:
    from sensorhub.db.rollup import CLAIM

    for value in range(5):  # a steady stream: every batch re-queues the same bucket
        await write_batch(db, batch_of([(T0, "m1", "temp", "a", float(value))]))
    assert await db.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 5
    await db.execute(CLAIM)  # a run claimed the queue, then died before recomputing
    assert await db.fetchval("SELECT count(*) FROM measurements_rollup_dirty WHERE claimed") == 1
    await write_batch(db, batch_of([(T0 + timedelta(minutes=1), "m1", "temp", "a", 10.0)]))
    await refresh_rollup(db)  # the next run does both the leftover claim and the new rows
    assert await db.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 0
    assert rows(await db.fetch(HOURLY)) == [(T0, "m1", "temp", 7.0, 4.0, 10.0, 2)]


async def test_a_run_reads_only_the_queued_minutes_and_folds_the_hour_from_the_minutes(
    db: asyncpg.Connection,
) -> None:
    await write_batch(
        db, batch_of([(T0 + timedelta(minutes=m), "m1", "t", "a", 1.0) for m in (5, 6)])
    )
    await refresh_rollup(db)
    # A reading nobody queued (only possible by hand) stays out of both rollups: the next run
    # recomputes the queued minute 30, not the hour, and sums the hour from its minutes.
    await db.execute("INSERT INTO measurements VALUES ($1, 'm1', 't', 'a', 100)", T0 + HOUR / 4)
    await write_batch(db, batch_of([(T0 + HOUR / 2, "m1", "t", "b", 4.0)]))
    assert await refresh_rollup(db) == 1
    assert rows(await db.fetch(HOURLY)) == [(T0, "m1", "t", 2.0, 1.0, 4.0, 3)]
    minutes = [(r["bucket"] - T0, r["hardware_id"]) for r in await db.fetch(MINUTES)]
    assert minutes == [(timedelta(minutes=m), hw) for m, hw in [(5, "a"), (6, "a"), (30, "b")]]

    # Deleting a minute's readings empties that minute and refolds its hour.
    await db.execute("DELETE FROM measurements WHERE time = $1", T0 + timedelta(minutes=5))
    assert await refresh_rollup(db) == 1
    assert rows(await db.fetch(HOURLY)) == [(T0, "m1", "t", 2.5, 1.0, 4.0, 2)]
    assert len(await db.fetch(MINUTES)) == 2


async def test_hours_queued_before_0009_are_recomputed_after_it(plain_database_url: str) -> None:
    await asyncio.to_thread(upgrade_schema, plain_database_url, "0008_p_minute_rollup")
    connection = await asyncpg.connect(plain_database_url)
    try:
        await connection.execute(
            "INSERT INTO measurements VALUES ($1, 'm1', 't', 'a', 2), ($2, 'm1', 't', 'b', 4)",
            T0 + timedelta(minutes=1),
            T0 + timedelta(minutes=59, seconds=59),
        )
        await connection.execute(
            "INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type) "
            "VALUES ($1, 'm1', 't')",
            T0,
        )
        await asyncio.to_thread(upgrade_schema, plain_database_url)
        assert await refresh_rollup(connection) == 60
        assert rows(await connection.fetch(HOURLY)) == [(T0, "m1", "t", 3.0, 2.0, 4.0, 2)]
        assert rows(await connection.fetch(MINUTES)) == rows(await connection.fetch(DIRECT_MINUTES))
        await connection.execute("DELETE FROM measurements WHERE hardware_id = 'b'")
        queued = await connection.fetch("SELECT bucket FROM measurements_rollup_dirty")
        assert [r["bucket"] for r in queued] == [T0 + timedelta(minutes=59)]  # the new trigger
    finally:
        await connection.close()


async def test_storage_report_finds_the_oldest_and_newest_of_any_series(
    db: asyncpg.Connection,
) -> None:
    """Plain PostgreSQL reads them by a skip scan over the series-led key (migration 0010_p)."""
    empty = await storage_report(db, timescale=False)
    assert (empty["measurements"]["oldest"], empty["measurements"]["newest"]) == (None, None)
    await write_batch(
        db,
        batch_of(
            [
                (T0, "m1", "temp", "a", 1.0),
                (T0 - HOUR, "m2", "hum", "b", 2.0),
                (T0 + 2 * HOUR, "m0", "temp", "a", 3.0),
                (T0 + HOUR, "m2", "temp", "", 4.0),
            ]
        ),
    )
    report = await storage_report(db, timescale=False)
    assert (report["measurements"]["oldest"], report["measurements"]["newest"]) == (
        T0 - HOUR,
        T0 + 2 * HOUR,
    )
