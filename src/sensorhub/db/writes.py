"""Writes a batch to PostgreSQL in one transaction, with one statement per table and shape.

The only SQL of the ingest path; `sensorhub.ingest` hands batches here and does no I/O itself.
Which status columns a batch may write is read from the tables in `sensorhub.db.schema`.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from operator import add, itemgetter
from typing import Any

import asyncpg

from sensorhub.db import array_literals, schema
from sensorhub.db.rollup import BACKFILL_AGE
from sensorhub.db.rollup_marks import Marks, minutes_touched
from sensorhub.ingest.batch import EXACT_SECONDS, Batch, MeasurementKey, key_datetime
from sensorhub.ingest.receipts import Receipt

# Each statement below is one round trip; a batch's round trips wait behind whatever the event
# loop is doing (parsing a backlog), so a batch of readings is written in four: BEGIN (with the
# staging table's CREATE), COPY, one statement, COMMIT. The queue of touched minutes for the
# rollup job (sensorhub.db.rollup), the receipts row and the `last_seen` upsert ride along with
# the measurements insert as CTEs. The queue is append-only with no unique key, so inserting
# into it never waits on the job (issue 17's hourly stall).
# Columns of text and integers are bound as array literals (sensorhub.db.array_literals).
MARK_ROLLUP_DIRTY = """
dirty AS (
    INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
    SELECT to_timestamp(d.minute * 60), d.module_id, d.sensor_type
    FROM unnest(${0}::text::int8[], ${1}::text::text[], ${2}::text::text[])
         AS d(minute, module_id, sensor_type)
)"""

# `last_seen` rows are upserted in module order (the batch sorts them), so two transactions
# upserting the same modules (two instances, or two batches in flight) lock them in one order
# and cannot deadlock; GREATEST keeps it monotonic whichever commits first.
RECEIPTS = """
receipts AS (
    INSERT INTO ingest_receipts (client_id, packet_ids, digests, times)
    SELECT ${0}, ${1}::text::int[], ${2}::text::int8[],
           ARRAY(SELECT to_timestamp(t.seconds)
                 FROM unnest(${3}::float8[]) WITH ORDINALITY AS t(seconds, n) ORDER BY t.n)
    WHERE ${1} <> '{{}}'
)"""
UPSERT_LAST_SEEN = """
INSERT INTO device_system_status (module_id, name, last_seen)
SELECT id, id, to_timestamp(seen) FROM unnest(${0}::text::text[], ${1}::float8[]) AS t(id, seen)
ON CONFLICT (module_id) DO UPDATE
SET last_seen = GREATEST(device_system_status.last_seen, EXCLUDED.last_seen)
"""
RECEIPTS_AND_LAST_SEEN = "WITH" + RECEIPTS.format(1, 2, 3, 4) + UPSERT_LAST_SEEN.format(5, 6)


def _with_receipts(first: int, rest: str) -> str:
    """`WITH` the rollup marks, the receipts and `last_seen` (parameters numbered from `first`:
    3 marks, 4 receipts, 2 last_seen), then the statement `rest`."""
    n = first
    return (
        "WITH"
        + MARK_ROLLUP_DIRTY.format(n, n + 1, n + 2)
        + ","
        + RECEIPTS.format(n + 3, n + 4, n + 5, n + 6)
        + ",\nseen AS ("
        + UPSERT_LAST_SEEN.format(n + 7, n + 8)
        + ")"
        + rest
    )


# Measurement times travel as float8 epoch seconds, converted by `to_timestamp` (exact to the
# microsecond between EXACT_SECONDS): asyncpg spends about 1 µs of CPU encoding a timestamptz,
# 0.1 µs a float8. The batch keys its rows by those seconds already. A batch holding a time
# outside that range sends every time as timestamptz instead; the statements take both columns,
# one of them empty (`unnest` pads it with NULLs).

UPSERT_MEASUREMENTS = _with_receipts(
    7,
    """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT coalesce(r.time, to_timestamp(r.seconds)), r.module_id, r.sensor_type, r.hardware_id,
       r.value
FROM unnest($1::float8[], $2::timestamptz[], $3::text::text[], $4::text::text[],
            $5::text::text[], $6::float8[])
     AS r(seconds, time, module_id, sensor_type, hardware_id, value)
ON CONFLICT (time, module_id, sensor_type, hardware_id) DO UPDATE SET value = EXCLUDED.value
""",
)

# Large batches go through COPY: it costs about a third of the client CPU of binding unnest
# arrays. On a connection that encodes epoch seconds as timestamptz (`use_seconds_codec`: the
# ingest writer's, sensorhub.db.batch_writer) the rows are copied straight into `measurements`,
# then one statement queues the marks and writes the receipts and `last_seen`: PostgreSQL's COPY
# inserts a page of rows at a time (one WAL record per page, no staging table to fill and scan),
# about a fifth less PostgreSQL CPU per row than the staging path (`python -m bench.rollup_micro
# drain --batch 10000`: 3.05-3.13 → 2.45-2.69 µs). Otherwise (any other connection, and the
# upsert after a duplicate key) they go into a per-session staging table (emptied at each
# commit) and one statement inserts them from it. (The table was `measurements_staging` with a
# time column only: a new name, so that a session kept across an upgrade by a pooler never
# holds the old shape.) Its CREATE goes with the BEGIN, in one round trip.
COPY_MIN_ROWS = 1_000
MEASUREMENT_COLUMNS = ("time", "module_id", "sensor_type", "hardware_id", "value")
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
# A plain insert (or COPY) first: `ON CONFLICT` costs PostgreSQL a quarter more per row (an extra
# probe of the primary key and a speculative-insertion record), and a large batch rarely holds a
# key already stored (a redelivery). On a duplicate key the whole transaction is rolled back and
# written again with the upsert from staging (no savepoint: two round trips less per batch).
INSERT_FROM_STAGING = _with_receipts(1, STAGED_ROWS)
AFTER_COPY = "WITH" + MARK_ROLLUP_DIRTY.format(1, 2, 3) + "," + RECEIPTS.format(4, 5, 6, 7)
AFTER_COPY += UPSERT_LAST_SEEN.format(8, 9)
UPSERT_FROM_STAGING = _with_receipts(
    1,
    STAGED_ROWS
    + "ON CONFLICT (time, module_id, sensor_type, hardware_id) "
    + "DO UPDATE SET value = EXCLUDED.value\n",
)

# Client CPU per receipt in asyncpg: a timestamptz[] element costs about 1 µs, a float8[] one
# (epoch seconds from `datetime.timestamp`) 0.5 µs; the integer columns go as array literals
# ('{1,2,3}', `str.join`: 0.2 µs against 0.25 µs bound). `to_timestamp` rounds to the
# microsecond, so a time round-trips exactly until 2106 (2**32 s; tests/unit/test_receipt_times.py).
STAGED_SECONDS = ("seconds", "module_id", "sensor_type", "hardware_id", "value")
STAGED_TIMES = ("time", "module_id", "sensor_type", "hardware_id", "value")

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
    seconds_codec: bool = False,
) -> None:
    """Write every row of `batch` atomically; the last value of a key wins.

    `track_rollup` queues the touched minutes for the rollup job; `backfill_only` (TimescaleDB,
    whose refresh policy covers recent hours) queues only minutes of hours older than
    `rollup.BACKFILL_AGE`.
    The batch's receipts are recorded under `client_id` (the MQTT session they belong to) in the
    same transaction, so a receive time is on record exactly when its rows are.
    Inside a caller's transaction the batch is written under a savepoint. `seconds_codec`: the
    connection encodes float epoch seconds as timestamptz (`use_seconds_codec`).
    """
    rows = list(batch.measurements)
    seconds: list[float] = []
    marks: Marks = ([], [], [])
    if rows:
        seconds = _row_seconds(rows, batch.far_times)
        if track_rollup:
            before = (datetime.now(UTC) - BACKFILL_AGE).timestamp() if backfill_only else None
            marks = minutes_touched(rows, seconds, before)
    direct = seconds_codec and len(rows) >= COPY_MIN_ROWS
    try:
        await _write_once(connection, batch, rows, seconds, marks, client_id, direct=direct)
    except asyncpg.UniqueViolationError:
        if len(rows) < COPY_MIN_ROWS:
            raise
        await _write_once(connection, batch, rows, seconds, marks, client_id, upsert=True)


async def _write_once(
    connection: asyncpg.Connection,
    batch: Batch,
    rows: list[MeasurementKey],
    seconds: list[float],
    marks: Marks,
    client_id: str,
    *,
    direct: bool = False,
    upsert: bool = False,
) -> None:
    """One transaction writing `batch`. A large batch's measurements are copied straight into
    `measurements` if `direct`, else staged; plainly inserted unless `upsert` (a plain insert
    raises `UniqueViolationError` on a key already stored)."""
    staged = len(rows) >= COPY_MIN_ROWS and not direct
    receipts = _receipts(batch, client_id)
    async with _transaction(connection, CREATE_STAGING if staged else ""):
        # Status upserts keep their place after the `last_seen` upsert, in statements of
        # their own; a batch of readings only writes both with its measurements.
        if (batch.module_fields or batch.sensor_rows or not rows) and (
            batch.receipt_ids or batch.last_seen
        ):
            await connection.execute(RECEIPTS_AND_LAST_SEEN, *receipts)
            receipts = (client_id, "{}", "{}", [], "{}", [])
        for sql, args in _grouped_upserts(batch.module_fields).items():
            await connection.executemany(sql, args)
        for sql, args in _grouped_upserts(batch.sensor_rows).items():
            await connection.executemany(sql, args)
        if rows:
            await _upsert_measurements(
                connection, batch, rows, seconds, marks, receipts, direct=direct, upsert=upsert
            )
        if batch.logs:
            await connection.execute(
                INSERT_LOGS,
                [e.time for e in batch.logs],
                [e.module_id for e in batch.logs],
                [e.level for e in batch.logs],
                [e.message for e in batch.logs],
            )


@contextlib.asynccontextmanager
async def _transaction(connection: asyncpg.Connection, setup: str) -> AsyncIterator[None]:
    """A transaction whose BEGIN carries the statement `setup` (one round trip, simple query
    protocol); a savepoint when the caller's transaction is open."""
    if connection.is_in_transaction():
        async with connection.transaction():
            if setup:
                await connection.execute(setup)
            yield
        return
    await connection.execute("BEGIN;" + setup)
    try:
        yield
    except BaseException:
        if not connection.is_closed() and connection.is_in_transaction():
            with contextlib.suppress(Exception):
                await connection.execute("ROLLBACK")
        raise
    await connection.execute("COMMIT")


def _receipts(batch: Batch, client_id: str) -> tuple[object, ...]:
    """The receipts and `last_seen` parameters of a batch (`RECEIPTS_AND_LAST_SEEN`'s order),
    `last_seen` sorted by module id (one lock order for every writer)."""
    seen = sorted(batch.last_seen.items())
    return (
        client_id,
        array_literals.integers(batch.receipt_ids),
        array_literals.integers(batch.receipt_digests),
        batch.receipt_seconds,
        array_literals.texts([module_id for module_id, _ in seen]),
        [moment.timestamp() for _, moment in seen],
    )


async def _upsert_measurements(
    connection: asyncpg.Connection,
    batch: Batch,
    rows: list[MeasurementKey],
    seconds: list[float],
    marks: Marks,
    receipts: tuple[object, ...],
    *,
    direct: bool,
    upsert: bool,
) -> None:
    """Upsert the batch's measurements (`rows`, unique keys whose times are `seconds` since the
    epoch), queue the rollup `marks` and record the `receipts` (`_receipts`). A large batch is
    copied into `measurements` if `direct`, else staged; inserted plainly unless `upsert`."""
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
            *receipts,
        )
        return
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
    if direct:
        await connection.copy_records_to_table(
            "measurements", records=records, columns=MEASUREMENT_COLUMNS
        )
        await connection.execute(AFTER_COPY, *_bound(marks), *receipts)
        return
    await connection.copy_records_to_table("staged_measurements", records=records, columns=columns)
    sql = UPSERT_FROM_STAGING if upsert else INSERT_FROM_STAGING
    await connection.execute(sql, *_bound(marks), *receipts)


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
