"""db/writes.py on a real database: both measurement paths, receipts, the log lines' natural key."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg

from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.writes import COPY_MIN_ROWS, load_receipts, write_batch
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import LogEntry, Measurement

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


def batch_of(count: int, value: float) -> Batch:
    batch = Batch()
    for n in range(count):
        batch.add_measurement(Measurement(T0 + timedelta(seconds=n), "m1", "temp", "", value))
    return batch


async def test_small_and_copied_batches_upsert_alike(database_url: str) -> None:
    await migrate(Settings(), database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await write_batch(connection, batch_of(10, 1.0))
        await write_batch(connection, batch_of(COPY_MIN_ROWS + 500, 2.0))  # through COPY
        # Again, and further: the plain insert meets stored keys, so the upsert redoes the batch.
        await write_batch(connection, batch_of(COPY_MIN_ROWS + 600, 3.0))
        rows = await connection.fetch("SELECT value, count(*) FROM measurements GROUP BY value")
        staged = await connection.fetchval("SELECT count(*) FROM staged_measurements")
        queued = await connection.fetchval("SELECT count(*) FROM measurements_rollup_dirty")
    finally:
        await connection.close()
    assert {r["value"]: r["count"] for r in rows} == {3.0: COPY_MIN_ROWS + 600}
    assert staged == 0, "the staging table empties at commit"
    minutes = [1, (COPY_MIN_ROWS + 500 + 59) // 60, (COPY_MIN_ROWS + 600 + 59) // 60]
    assert queued == sum(minutes), "the rolled-back insert queued nothing"


async def stored_times(database_url: str, batch: Batch) -> list[datetime]:
    connection = await asyncpg.connect(database_url)
    try:
        await write_batch(connection, batch)
        rows = await connection.fetch("SELECT time FROM measurements ORDER BY hardware_id::int")
    finally:
        await connection.close()
    return [row["time"] for row in rows]


def batch_at(times: list[datetime]) -> Batch:
    batch = Batch()
    for n, time in enumerate(times):
        batch.add_measurement(Measurement(time, "m1", "temp", str(n), 1.0))
    return batch


async def test_measurement_times_round_trip_to_the_microsecond(database_url: str) -> None:
    """Times travel as float8 epoch seconds (db/writes.py): each must be stored exactly."""
    await migrate(Settings(), database_url)
    chooser = random.Random(7)
    for count in (COPY_MIN_ROWS - 1, COPY_MIN_ROWS + 1):  # unnest, then COPY
        times = [
            T0 + timedelta(microseconds=chooser.randrange(-(10**15), 10**15)) for _ in range(count)
        ]
        assert await stored_times(database_url, batch_at(times)) == times
        await _clear(database_url)


async def test_times_a_float_cannot_hold_are_stored_exactly(database_url: str) -> None:
    await migrate(Settings(), database_url)
    far = [
        datetime(1800, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2200, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
    ]
    for count in (10, COPY_MIN_ROWS + 1):
        times = [*far, *(T0 + timedelta(microseconds=n) for n in range(count))]
        assert await stored_times(database_url, batch_at(times)) == times
        await _clear(database_url)


async def _clear(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("DELETE FROM measurements")
    finally:
        await connection.close()


async def test_receipts_are_written_with_the_batch_and_read_newest_first(database_url: str) -> None:
    await migrate(Settings(), database_url)
    first, second = Batch(), Batch()
    first.receipts = [(1, 111, T0), (2, 222, T0)]
    second.receipts = [(1, 333, T0 + timedelta(seconds=1))]
    connection = await asyncpg.connect(database_url)
    try:
        await write_batch(connection, first, client_id="sh-a")
        await write_batch(connection, second, client_id="sh-a")
        await write_batch(connection, first, client_id="sh-b")
        receipts = await load_receipts(connection, "sh-a")
    finally:
        await connection.close()
    assert receipts == [(1, 333, T0 + timedelta(seconds=1)), (1, 111, T0), (2, 222, T0)]


async def test_receive_times_round_trip_to_the_microsecond(database_url: str) -> None:
    """Receipt times travel as epoch seconds in text (db/writes.py): each must come back exact."""
    await migrate(Settings(), database_url)
    chooser = random.Random(14)
    times = [
        T0 + timedelta(microseconds=chooser.randrange(-(10**15), 10**15)) for _ in range(5_000)
    ]
    times += [T0, T0 + timedelta(microseconds=1), T0 - timedelta(microseconds=1)]
    batch = Batch()
    batch.receipts = [(n % 65_535 + 1, n, t) for n, t in enumerate(times)]
    connection = await asyncpg.connect(database_url)
    try:
        await write_batch(connection, batch, client_id="sh-times")
        receipts = await load_receipts(connection, "sh-times")
    finally:
        await connection.close()
    assert [t for _, _, t in receipts] == times


async def test_a_log_line_written_twice_is_stored_once(database_url: str) -> None:
    await migrate(Settings(), database_url)
    batch = Batch()
    batch.logs = [LogEntry(T0, "m1", "info", "booted"), LogEntry(T0, "m1", "warn", "booted")]
    connection = await asyncpg.connect(database_url)
    try:
        await write_batch(connection, batch)
        await write_batch(connection, batch)
        count = await connection.fetchval("SELECT count(*) FROM device_logs")
    finally:
        await connection.close()
    assert count == 2
