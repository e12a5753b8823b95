"""Batching with a durability promise: `add` returns a future that completes once the message's
data is committed to PostgreSQL or fsync'ed to the local spool — only then may it be acknowledged.

One flusher task writes batches in arrival order. A batch that reaches `max_batch` messages is
sealed and the next one starts filling while it waits or is written: with `max_batch` at most half
the bound on unacknowledged deliveries, reading the broker goes on while a batch is written, and
reading and writing a backlog overlap instead of taking turns. A batch goes to the local spool
instead of the database only when the database is unreachable, or when the unwritten messages
threaten memory: they grew past `backlog_limit` (default 50,000) while the previous write ran.
Under QoS 1 that does not happen with the default bound on unacknowledged deliveries
(MQTT_RECEIVE_MAXIMUM, 20,000): a healthy database drains a backlog directly, without the cost of
spooling every batch (issue 14: the old limit, 20 times BUFFER_MAX_SIZE, sent every batch of a
backlog through the spool). While the spool holds anything, new batches are appended to it too,
so the database always receives data in order; a replayer task drains the spool oldest first, in
large merged batches. If neither the database nor the spool can take a batch, the flusher keeps
it and retries: acknowledgements stop, sensorhub stops reading the broker connection at its bound
of unacknowledged deliveries, and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Self

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    wait_chain,
    wait_fixed,
)

from sensorhub.ingest import spool_record
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import Accepted
from sensorhub.ingest.receipts import Receipt
from sensorhub.ingest.spool import Spool, SpoolFull
from sensorhub.metrics import Metrics

logger = logging.getLogger(__name__)

BatchWrite = Callable[[Batch], Awaitable[None]]

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Seconds between retries of a batch nobody takes, then of a replay; the last one repeats."""
REPLAY_BATCH_ROWS = 20_000
BACKLOG_MESSAGES = 50_000
"""An unwritten batch of more messages than this puts memory at stake: spool it."""
SPOOLED_BATCH_MIN = 1_000
"""While spooling, flush at least this many messages at a time (one fsync each)."""


class IngestBuffer:
    """Collects accepted messages and persists them in batches (docs/contract.md §4)."""

    def __init__(
        self,
        write: BatchWrite,
        spool: Spool,
        metrics: Metrics,
        *,
        max_size: int,
        max_age: float,
        max_batch: int = 5_000,
        backlog_limit: int = BACKLOG_MESSAGES,
    ) -> None:
        self._write = write
        self._spool = spool
        self._metrics = metrics
        self._max_size = max_size
        self._max_age = max_age
        self._max_batch = max(max_batch, 1)
        self._least_flush_size = min(max_size, self._max_batch)
        self._backlog_limit = max(backlog_limit, max_size)
        self._backlogged = False
        self._batch = Batch()
        self._batch_done: asyncio.Future[None] | None = None
        self._oldest: float | None = None
        self._sealed: deque[tuple[Batch, asyncio.Future[None]]] = deque()
        self._sealed_messages = 0
        self._wake = asyncio.Event()
        self._replay_now = asyncio.Event()
        self._closing = False
        self.database_available = True

    @property
    def depth(self) -> int:
        """Messages waiting to be written (not counting the batch being written)."""
        return len(self._batch) + self._sealed_messages

    def add(
        self,
        accepted: Accepted,
        *,
        retained: bool = False,
        device_time: bool = True,
        receipt: Receipt | None = None,
    ) -> asyncio.Future[None]:
        """Queue a message (see `Batch.add`); the returned future completes when it is durable."""
        batch, done, _ = self.open_batch()
        batch.add(accepted, retained=retained, device_time=device_time, receipt=receipt)
        self.added()
        return done

    def open_batch(self) -> tuple[Batch, asyncio.Future[None], int]:
        """The batch being filled, the future that completes once it is durable, and how many
        more messages it takes before it must be sealed (at least 1).

        For a caller that adds to the batch itself (`ingest/readings.py`): it adds at most that
        many messages, then calls `added`.
        """
        if self._batch_done is None:
            self._batch_done = asyncio.get_running_loop().create_future()
            self._oldest = time.monotonic()
            self._wake.set()
        return self._batch, self._batch_done, self._max_batch - len(self._batch)

    def added(self) -> None:
        """After messages were added to the open batch: seal it when full, wake the flusher when
        it should write."""
        size = len(self._batch)
        if size >= self._max_batch:
            self._seal()
            self._wake.set()
        elif (  # cheapest test first: most messages skip the `_flush_size` property
            size >= self._least_flush_size and not self._wake.is_set() and size >= self._flush_size
        ):
            self._wake.set()

    def _seal(self) -> None:
        """Queue the current batch for the flusher as it is; later messages start a new one."""
        batch, done = self._batch, self._batch_done
        assert done is not None
        batch.settle_seen()
        self._sealed.append((batch, done))
        self._sealed_messages += len(batch)
        self._batch, self._batch_done, self._oldest = Batch(), None, None

    @contextlib.asynccontextmanager
    async def running(self, replay_timeout: float = 10.0) -> AsyncIterator[Self]:
        """Run the flusher and the replayer (in a TaskGroup) for the duration of the block.

        Leaving the block flushes what is buffered (every future completes or the block does not
        end), tries to replay the spool for up to `replay_timeout` seconds, then stops.
        """
        async with asyncio.TaskGroup() as group:
            flusher = group.create_task(self._flush_loop(), name="ingest-flusher")
            replayer = group.create_task(self._replay_loop(), name="ingest-replayer")
            try:
                yield self
            finally:
                self._closing = True
                self._wake.set()
                await flusher
                self._replay_now.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_spool_drained(), timeout=replay_timeout)
                replayer.cancel()
        self._spool.close()

    async def _wait_spool_drained(self) -> None:
        while not self._spool.is_empty:
            self._replay_now.set()
            await asyncio.sleep(0.05)

    async def _flush_loop(self) -> None:
        while True:
            await self._wait_for_flush()
            if not self._sealed and not self._batch.messages:
                if self._closing:
                    return
                continue
            batch, done = self._take()
            await self._persist(batch)
            if not done.done():
                done.set_result(None)

    async def _wait_for_flush(self) -> None:
        """Return when a batch is sealed or full, the oldest message is `max_age` old, or on
        close."""
        while not self._sealed and not self._closing and len(self._batch) < self._flush_size:
            timeout = None
            if self._oldest is not None:
                timeout = self._oldest + self._max_age - time.monotonic()
                if timeout <= 0:
                    return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return

    @property
    def _flush_size(self) -> int:
        """`max_size`, or larger batches while a backlog is being spooled (fewer fsyncs); never
        more than `max_batch`."""
        if self._backlogged and self._spool.is_empty:
            self._backlogged = False
        size = max(self._max_size, SPOOLED_BATCH_MIN) if self._backlogged else self._max_size
        return min(size, self._max_batch)

    def _take(self) -> tuple[Batch, asyncio.Future[None]]:
        """The oldest sealed batch, else the current one."""
        if self._sealed:
            sealed = self._sealed.popleft()
            self._sealed_messages -= len(sealed[0])
            return sealed
        batch, done = self._batch, self._batch_done
        assert done is not None
        batch.settle_seen()
        self._batch, self._batch_done, self._oldest = Batch(), None, None
        return batch, done

    async def _persist(self, batch: Batch) -> None:
        """Write to the database, else to the spool; retry until one of them takes the batch."""
        falling_behind = len(batch) + self.depth > self._backlog_limit
        self._backlogged = self._backlogged or falling_behind
        retrying = AsyncRetrying(
            wait=_retry_wait(),
            retry=retry_if_exception_type(SpoolFull),
            before_sleep=_log_held_batch,
        )
        await retrying(self._persist_once, batch, falling_behind)

    async def _persist_once(self, batch: Batch, falling_behind: bool) -> None:
        """Database if it is the batch's turn, else the spool.

        Raises:
            SpoolFull: neither took the batch.
        """
        if self._spool.is_empty and not falling_behind and await self._try_write(batch):
            self._metrics.stored.inc(batch.measurement_count)
            return
        self._spool.append(spool_record.encode(batch))
        self._metrics.spooled.inc(batch.measurement_count)
        self._metrics.spool_bytes.set(self._spool.size_bytes)
        self._replay_now.set()

    async def _try_write(self, batch: Batch) -> bool:
        started = time.perf_counter()
        try:
            await self._write(batch)
        except Exception as error:
            self._metrics.db_write_errors.inc()
            if self.database_available:
                logger.warning("database write failed (%s); spooling to disk", _describe(error))
            self.database_available = False
            return False
        self._metrics.flush_duration.observe(time.perf_counter() - started)
        self._metrics.batch_rows.observe(batch.measurement_count)
        if not self.database_available:
            logger.info("database writes work again")
        self.database_available = True
        return True

    async def _replay_loop(self) -> None:
        while True:
            if self._spool.is_empty:
                self._replay_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._replay_now.wait(), timeout=1.0)
                continue
            # The delays start over with each segment, as after any successful replay.
            retrying = AsyncRetrying(wait=_retry_wait(), retry=retry_if_result(_failed))
            await retrying(self._replay_oldest_segment)

    async def _replay_oldest_segment(self) -> bool:
        segment = self._spool.oldest_segment()
        if segment is None:
            return True
        pending = Batch()
        for record in await asyncio.to_thread(lambda: list(self._spool.read_segment(segment))):
            pending.merge(spool_record.decode(record))
            if pending.measurement_count >= REPLAY_BATCH_ROWS:
                if not await self._replay(pending):
                    return False
                pending = Batch()
        if pending.messages and not await self._replay(pending):
            return False
        self._spool.remove_segment(segment)
        self._metrics.spool_bytes.set(self._spool.size_bytes)
        if self._spool.is_empty:
            logger.info("spool replayed into the database")
        return True

    async def _replay(self, batch: Batch) -> bool:
        if not await self._try_write(batch):
            return False
        self._metrics.replayed.inc(batch.measurement_count)
        self._metrics.stored.inc(batch.measurement_count)
        return True


def _retry_wait() -> wait_chain:
    """RETRY_DELAYS in order, then the last one for ever."""
    return wait_chain(*(wait_fixed(delay) for delay in RETRY_DELAYS))


def _failed(replayed: bool) -> bool:
    return not replayed


def _log_held_batch(state: RetryCallState) -> None:
    if state.attempt_number == 1 and state.outcome is not None:
        logger.error(
            "cannot store nor spool a batch (%s); holding acknowledgements",
            state.outcome.exception(),
        )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]
