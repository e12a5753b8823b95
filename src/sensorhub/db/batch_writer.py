"""The ingest path's writer: batches written on one connection kept from batch to batch, each
under a deadline (sensorhub.db.deadline); the SQL is in sensorhub.db.writes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from sensorhub.db.deadline import with_deadline
from sensorhub.db.writes import PRUNE_RECEIPTS, load_receipts, write_batch
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.receipts import Receipt

logger = logging.getLogger(__name__)


PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_SECONDS = PG_EPOCH.timestamp()
MICROSECOND = timedelta(microseconds=1)


def _encode_time(moment: float | datetime) -> tuple[int]:
    """A timestamptz as asyncpg's tuple format (microseconds since 2000-01-01 UTC) from epoch
    seconds (rounded to the microsecond, as `to_timestamp` does) or an aware datetime."""
    if type(moment) is float:
        return (round((moment - PG_EPOCH_SECONDS) * 1e6),)
    assert isinstance(moment, datetime)
    return ((moment - PG_EPOCH) // MICROSECOND,)


def _decode_time(value: tuple[int]) -> datetime:
    """The aware UTC datetime asyncpg's own codec gives for a finite timestamptz."""
    return PG_EPOCH + value[0] * MICROSECOND


async def use_seconds_codec(connection: asyncpg.Connection) -> None:
    """Let `connection` take float epoch seconds (and datetimes) for timestamptz, so a batch's
    key seconds are copied into `measurements` as they are (`write_batch(seconds_codec=True)`);
    undo with `drop_seconds_codec` before the connection serves anything else."""
    await connection.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_time,
        decoder=_decode_time,
        format="tuple",
    )


async def drop_seconds_codec(connection: asyncpg.Connection) -> None:
    """asyncpg's own timestamptz codec again on `connection`."""
    await connection.reset_type_codec("timestamptz", schema="pg_catalog")


def _broken(connection: asyncpg.Connection) -> bool:
    """The connection is closed; asyncpg detaches a pooled connection's proxy once the
    connection is lost (its methods then raise InterfaceError)."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:
        return True


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
        self._connection: asyncpg.Connection | None = None
        self._writing = False

    async def write(self, batch: Batch) -> None:
        """Write `batch` (`write_batch`) under the deadline. The buffer's flusher and its spool
        replayer may write at once: the kept connection serves one write at a time, a second
        one takes a pooled connection for itself (and stages its rows)."""
        if self._writing:
            async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
                await self._write_on(connection, batch, seconds_codec=False)
            return
        self._writing = True
        try:
            connection = await self._writer()
            try:
                await self._write_on(connection, batch, seconds_codec=True)
            except BaseException:
                await self.close()  # the pool resets it, or replaces it if it broke
                raise
            now = time.monotonic()
            if now >= self._next_prune:
                self._next_prune = now + self._prune_every
                await self._prune_receipts(connection)
        finally:
            self._writing = False

    async def _write_on(
        self, connection: asyncpg.Connection, batch: Batch, *, seconds_codec: bool
    ) -> None:
        await with_deadline(
            connection,
            write_batch(
                connection,
                batch,
                track_rollup=self._track_rollup,
                backfill_only=self._backfill_only,
                client_id=self._client_id,
                seconds_codec=seconds_codec,
            ),
            timeout=self._write_timeout,
            pool=self._pool,
            on_timeout=self._on_timeout,
        )

    async def _writer(self) -> asyncpg.Connection:
        """The connection batches are written on, kept from one batch to the next: giving it
        back to the pool after each batch cost a round trip (the pool's reset query) before
        the batch's acknowledgements could go out."""
        if self._connection is not None and _broken(self._connection):
            await self.close()
        if self._connection is None:
            connection = await self._pool.acquire(timeout=self._acquire_timeout)
            try:
                await use_seconds_codec(connection)
            except BaseException:
                await self._pool.release(connection)
                raise
            self._connection = connection
        return self._connection

    async def close(self) -> None:
        """Give the writing connection back to the pool (before the pool closes); the next
        write takes one again."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                if not _broken(connection):
                    await drop_seconds_codec(connection)
            with contextlib.suppress(Exception):
                await self._pool.release(connection, timeout=self._write_timeout)

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
        """The receipts on record for this client id (`load_receipts`)."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
            return await load_receipts(connection, self._client_id)
