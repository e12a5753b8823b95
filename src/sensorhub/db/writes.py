"""Writes a batch to PostgreSQL in one transaction, with one statement per table and shape.

The only SQL of the ingest path; `sensorhub.ingest` hands batches here and does no I/O itself.
Which status columns a batch may write is read from the tables in `sensorhub.db.schema`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from operator import add, itemgetter
from typing import Any

import asyncpg

from sensorhub.db import array_literals, schema
from sensorhub.db.deadline import with_deadline
from sensorhub.db.rollup import BACKFILL_AGE
from sensorhub.db.rollup_marks import Marks, minutes_touched
from sensorhub.ingest.batch import EXACT_SECONDS, Batch, MeasurementKey, key_datetime
from sensorhub.ingest.receipts import Receipt

logger = logging.getLogger(__name__)

# Each statement below is one round trip; a batch's round trips wait behind whatever the event
# loop is doing (parsing a backlog), so the queue of touched minutes for the rollup job
# (sensorhub.db.rollup) rides along with the measurements upsert, and the receipts row with the
# `last_seen` upsert. The queue is append-only with no unique key, so inserting into it never
# waits on the job (issue 17's hourly stall).
# Columns of text and integers are bound as array literals (sensorhub.db.array_literals).
MARK_ROLLUP_DIRTY = """
WITH dirty AS (
    INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
    SELECT to_timestamp(d.minute * 60), d.module_id, d.sensor_type
    FROM unnest(${0}::text::int8[], ${1}::text::text[], ${2}::text::text[])
         AS d(minute, module_id, sensor_type)
)
"""

# Measurement times travel as float8 epoch seconds, converted by `to_timestamp` (exact to the
# microsecond between EXACT_SECONDS): asyncpg spends about 1 µs of CPU encoding a timestamptz,
# 0.1 µs a float8. The batch keys its rows by those seconds already. A batch holding a time
# outside that range sends every time as timestamptz instead; the statements take both columns,
# one of them empty (`unnest` pads it with NULLs).

UPSERT_MEASUREMENTS = (
    MARK_ROLLUP_DIRTY.format(7, 8, 9)
    + """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT coalesce(r.time, to_timestamp(r.seconds)), r.module_id, r.sensor_type, r.hardware_id,
       r.value
FROM unnest($1::float8[], $2::timestamptz[], $3::text::text[], $4::text::text[],
            $5::text::text[], $6::float8[])
     AS r(seconds, time, module_id, sensor_type, hardware_id, value)
ON CONFLICT (time, module_id, sensor_type, hardware_id) DO UPDATE SET value = EXCLUDED.value
"""
)

# Large batches go through COPY into a per-session staging table (emptied at each commit), then
# one upsert from it: COPY costs about a third of the client CPU of binding unnest arrays. (The
# table was `measurements_staging` with a time column only: a new name, so that a session kept
# across an upgrade by a pooler never holds the old shape.)
COPY_MIN_ROWS = 1_000
CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS staged_measurements
(seconds float8, time timestamptz, module_id text, sensor_type text, hardware_id text,
 value float8)
ON COMMIT DELETE ROWS
"""
STAGED_ROWS = """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT coalesce(time, to_timestamp(seconds)), module_id, sensor_type, hardware_id, value
FROM staged_measurements
"""
# A plain insert first: `ON CONFLICT` costs PostgreSQL a quarter more per row (an extra probe of
# the primary key and a speculative-insertion record), and a large batch rarely holds a key
# already stored (a redelivery). It runs under a savepoint; on a duplicate key the upsert redoes
# the batch.
INSERT_FROM_STAGING = MARK_ROLLUP_DIRTY.format(1, 2, 3) + STAGED_ROWS
UPSERT_FROM_STAGING = (
    MARK_ROLLUP_DIRTY.format(1, 2, 3)
    + STAGED_ROWS
    + "ON CONFLICT (time, module_id, sensor_type, hardware_id) "
    + "DO UPDATE SET value = EXCLUDED.value\n"
)

# Client CPU per receipt in asyncpg: a timestamptz[] element costs about 1 µs, a float8[] one
# (epoch seconds from `datetime.timestamp`) 0.5 µs; the integer columns go as array literals
# ('{1,2,3}', `str.join`: 0.2 µs against 0.25 µs bound). `to_timestamp` rounds to the
# microsecond, so a time round-trips exactly until 2106 (2**32 s; tests/unit/test_receipt_times.py).
STAGED_SECONDS = ("seconds", "module_id", "sensor_type", "hardware_id", "value")
STAGED_TIMES = ("time", "module_id", "sensor_type", "hardware_id", "value")

RECEIPTS_AND_LAST_SEEN = """
WITH receipts AS (
    INSERT INTO ingest_receipts (client_id, packet_ids, digests, times)
    SELECT $1, $2::text::int[], $3::text::int8[],
           ARRAY(SELECT to_timestamp(t.seconds)
                 FROM unnest($4::float8[]) WITH ORDINALITY AS t(seconds, n) ORDER BY t.n)
    WHERE $2 <> '{}'
)
INSERT INTO device_system_status (module_id, name, last_seen)
SELECT id, id, to_timestamp(seen) FROM unnest($5::text::text[], $6::float8[]) AS t(id, seen)
ON CONFLICT (module_id) DO UPDATE
SET last_seen = GREATEST(device_system_status.last_seen, EXCLUDED.last_seen)
"""

# A redelivered log line hits the natural key (migration 0005_b) and is absorbed.
INSERT_LOGS = """
INSERT INTO device_logs (time, module_id, level, message)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (module_id, time, level, md5(message)) DO NOTHING
"""

PRUNE_RECEIPTS = """
DELETE FROM ingest_receipts WHERE client_id = $1 AND written_at < now() - $2::interval
"""

# Newest first: the first receipt seen for a packet id is the one that counts.
LOAD_RECEIPTS = """
SELECT r.packet_id, r.digest, r.received
FROM (SELECT id, packet_ids, digests, times FROM ingest_receipts WHERE client_id = $1
      ORDER BY id DESC LIMIT $2) AS b,
     unnest(b.packet_ids, b.digests, b.times) AS r(packet_id, digest, received)
ORDER BY b.id DESC
"""

NOT_REPORTED = frozenset({"name", "last_seen", "updated_at"})
"""Columns of the status tables that no module message writes."""


def _reported(table: Any) -> tuple[tuple[str, ...], frozenset[str]]:
    keys = tuple(column.name for column in table.primary_key.columns)
    columns = {column.name for column in table.columns} - set(keys) - NOT_REPORTED
    return keys, frozenset(columns)


STATUS_TABLES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    table.name: _reported(table)
    for table in (
        schema.device_system_status,
        schema.device_hardware,
        schema.sensor_status,
        schema.sensor_config,
    )
}
"""Table name → (key columns, columns a module's message may write), from `db.schema`."""


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
        keys, allowed = STATUS_TABLES[table]
        columns = sorted(name for name in fields if name in allowed)
        if not columns:
            continue
        sql = _upsert_sql(table, keys, columns)
        statements[sql].append((*key, *(fields[c] for c in columns)))
    return statements


async def write_batch(
    connection: asyncpg.Connection,
    batch: Batch,
    *,
    track_rollup: bool = True,
    backfill_only: bool = False,
    client_id: str = "",
) -> None:
    """Write every row of `batch` atomically; the last value of a key wins.

    `track_rollup` queues the touched minutes for the rollup job; `backfill_only` (TimescaleDB,
    whose refresh policy covers recent hours) queues only minutes of hours older than
    `rollup.BACKFILL_AGE`.
    The batch's receipts are recorded under `client_id` (the MQTT session they belong to) in the
    same transaction, so a receive time is on record exactly when its rows are.
    """
    async with connection.transaction():
        if batch.receipt_ids or batch.last_seen:
            await connection.execute(
                RECEIPTS_AND_LAST_SEEN,
                client_id,
                array_literals.integers(batch.receipt_ids),
                array_literals.integers(batch.receipt_digests),
                batch.receipt_seconds,
                array_literals.texts(list(batch.last_seen)),
                list(map(datetime.timestamp, batch.last_seen.values())),
            )
        for sql, args in _grouped_upserts(batch.module_fields).items():
            await connection.executemany(sql, args)
        for sql, args in _grouped_upserts(batch.sensor_rows).items():
            await connection.executemany(sql, args)
        if batch.measurements:
            rows = list(batch.measurements)
            seconds = _row_seconds(rows, batch.far_times)
            marks: Marks = ([], [], [])
            if track_rollup:
                before = (datetime.now(UTC) - BACKFILL_AGE).timestamp() if backfill_only else None
                marks = minutes_touched(rows, seconds, before)
            await _upsert_measurements(connection, batch, rows, seconds, marks)
        if batch.logs:
            await connection.execute(
                INSERT_LOGS,
                [e.time for e in batch.logs],
                [e.module_id for e in batch.logs],
                [e.level for e in batch.logs],
                [e.message for e in batch.logs],
            )


async def _upsert_measurements(
    connection: asyncpg.Connection,
    batch: Batch,
    rows: list[MeasurementKey],
    seconds: list[float],
    marks: Marks,
) -> None:
    """Upsert the batch's measurements (`rows`, unique keys whose times are `seconds` since the
    epoch) and queue the rollup `marks`."""
    times: list[datetime] = []
    if not (EXACT_SECONDS[0] <= min(seconds) and max(seconds) < EXACT_SECONDS[1]):
        seconds, times = [], [key_datetime(key[0]) for key in rows]
    values = list(batch.measurements.values())
    if len(rows) < COPY_MIN_ROWS:
        _, modules, sensors, hardware = zip(*rows, strict=True)
        await connection.execute(
            UPSERT_MEASUREMENTS,
            seconds,
            times,
            array_literals.texts(modules),
            array_literals.texts(sensors),
            array_literals.texts(hardware),
            values,
            *_bound(marks),
        )
        return
    await connection.execute(CREATE_STAGING)
    records: list[tuple[object, ...]]
    if times:
        columns = STAGED_TIMES
        records = [(t, m, s, h, v) for t, (_, m, s, h), v in zip(times, rows, values, strict=True)]
    elif not batch.far_times:  # each key starts with its epoch seconds: key + (value,), in C
        columns = STAGED_SECONDS
        records = list(map(add, rows, zip(values, strict=True)))
    else:
        columns = STAGED_SECONDS
        records = [
            (t, m, s, h, v) for t, (_, m, s, h), v in zip(seconds, rows, values, strict=True)
        ]
    await connection.copy_records_to_table("staged_measurements", records=records, columns=columns)
    try:
        async with connection.transaction():
            await connection.execute(INSERT_FROM_STAGING, *_bound(marks))
    except asyncpg.UniqueViolationError:
        await connection.execute(UPSERT_FROM_STAGING, *_bound(marks))


def _row_seconds(rows: list[MeasurementKey], far_times: bool) -> list[float]:
    """The epoch seconds of measurement keys `rows` (their times, unless `far_times`: some are
    datetimes outside EXACT_SECONDS)."""
    if not far_times:
        return list(map(itemgetter(0), rows))
    return [key_datetime(key[0]).timestamp() for key in rows]


def _bound(marks: Marks) -> tuple[str, str, str]:
    minutes, modules, sensors = marks
    return (
        array_literals.integers(minutes),
        array_literals.texts(modules),
        array_literals.texts(sensors),
    )


async def load_receipts(
    connection: asyncpg.Connection, client_id: str, *, batches: int = 10_000
) -> list[Receipt]:
    """The receipts of the newest `batches` batches written under `client_id`, newest first."""
    rows = await connection.fetch(LOAD_RECEIPTS, client_id, batches)
    return [(row["packet_id"], row["digest"], row["received"]) for row in rows]


class BatchRepository:
    """Writes batches through a pool, failing fast when the database is unreachable or stalls.

    `write_timeout` (seconds, Settings.ingest_write_timeout) bounds each write: past it the write
    is rolled back and `WriteDeadlineExceeded` raised, so the buffer spools the batch.

    Receipts older than `keep_receipts` are deleted at most once per `prune_every` seconds: a
    packet not acknowledged by then (sensorhub down that long) may be stored twice if it carries
    no device time.
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
        client_id: str = "",
        keep_receipts: timedelta = timedelta(days=7),
        prune_every: float = 600.0,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._track_rollup = track_rollup
        self._backfill_only = backfill_only
        self._write_timeout = write_timeout
        self._on_timeout = on_timeout
        self._client_id = client_id
        self._keep_receipts = keep_receipts
        self._prune_every = prune_every
        self._next_prune = 0.0

    async def write(self, batch: Batch) -> None:
        async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
            await with_deadline(
                connection,
                write_batch(
                    connection,
                    batch,
                    track_rollup=self._track_rollup,
                    backfill_only=self._backfill_only,
                    client_id=self._client_id,
                ),
                timeout=self._write_timeout,
                pool=self._pool,
                on_timeout=self._on_timeout,
            )
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self._prune_every
                await self._prune_receipts(connection)

    async def _prune_receipts(self, connection: asyncpg.Connection) -> None:
        """Delete old receipts, under the same deadline as a write. The batch is committed by
        now: a failure here is logged and left for the next prune, never reported as a failed
        write (which would spool a batch already stored)."""
        try:
            await with_deadline(
                connection,
                connection.execute(PRUNE_RECEIPTS, self._client_id, self._keep_receipts),
                timeout=self._write_timeout,
                pool=self._pool,
                on_timeout=self._on_timeout,
            )
        except Exception as error:
            logger.warning("old ingest receipts not pruned this time: %s", error)

    async def load_receipts(self) -> list[Receipt]:
        async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
            return await load_receipts(connection, self._client_id)
