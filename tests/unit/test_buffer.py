"""The buffer flushes by size or age, acknowledges only durable data, spools and replays in order."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.messages import Accepted
from sensorhub.ingest.spool import Spool
from sensorhub.metrics import Metrics


class Store:
    """Stands in for PostgreSQL: keeps written batches; `down` makes writes fail like an outage."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.down = False
        self.written = asyncio.Event()
        self.attempts = 0
        self.attempted = asyncio.Event()

    async def write(self, batch: Batch) -> None:
        self.attempts += 1
        self.attempted.set()
        if self.down:
            raise ConnectionRefusedError("database is down")
        self.batches.append(batch)
        self.written.set()

    async def wait_attempts(self, count: int) -> None:
        """Until the buffer has tried to write `count` times in all."""
        async with asyncio.timeout(10):
            while self.attempts < count:
                self.attempted.clear()
                await self.attempted.wait()

    @property
    def values(self) -> list[float]:
        return [v for b in self.batches for v in b.measurements.values()]


def reading(n: int) -> Accepted:
    stamp = (datetime.now(UTC) - timedelta(seconds=1000 - n)).isoformat()
    result = interpret(
        "m1/temperature", f'{{"value": {n % 50}, "time": "{stamp}"}}'.encode(), datetime.now(UTC)
    )
    assert isinstance(result, Accepted)
    return result


def make_buffer(
    store: Store,
    tmp_path: Path,
    *,
    max_size: int = 10,
    max_age: float = 60,
    backlog_limit: int = 50_000,
    max_batch: int = 5_000,
    metrics: Metrics | None = None,
) -> IngestBuffer:
    return IngestBuffer(
        store.write,
        Spool(tmp_path / "spool", 1 << 20),
        metrics or Metrics(),
        max_size=max_size,
        max_age=max_age,
        max_batch=max_batch,
        backlog_limit=backlog_limit,
    )


async def test_full_buffer_flushes_at_once_and_acknowledges(tmp_path: Path) -> None:
    store = Store()
    buffer = make_buffer(store, tmp_path, max_size=5, max_age=3600)
    async with buffer.running():
        futures = [buffer.add(reading(n)) for n in range(5)]
        await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
        assert len(store.batches) == 1 and store.batches[0].measurement_count == 5


async def test_partial_buffer_waits_for_max_age(tmp_path: Path) -> None:
    store = Store()
    buffer = make_buffer(store, tmp_path, max_size=100, max_age=0.2)
    async with buffer.running():
        done = buffer.add(reading(1))
        await asyncio.sleep(0)
        assert not done.done(), "must not be acknowledged before it is written"
        await asyncio.wait_for(done, timeout=5)
        assert store.values == [1]


async def test_outage_spools_acknowledges_and_replays_in_order(tmp_path: Path) -> None:
    store = Store()
    store.down = True
    buffer = make_buffer(store, tmp_path, max_size=3)
    async with buffer.running():
        for n in range(9):
            await asyncio.wait_for(buffer.add(reading(n)), timeout=5) if n % 3 == 2 else buffer.add(
                reading(n)
            )
        assert store.batches == [], "nothing written while the database is down"
        assert list((tmp_path / "spool").glob("*.spool")), "batches are on disk"
        assert not buffer.database_available

        store.down = False
        buffer.add(reading(9))  # arrives while the spool is not empty: must be written after it
    assert store.values == [float(n) for n in range(10)]
    assert not list((tmp_path / "spool").glob("*.spool"))


async def test_spooled_batches_are_replayed_after_a_restart(tmp_path: Path) -> None:
    store = Store()
    store.down = True
    first = make_buffer(store, tmp_path, max_size=2)
    async with first.running(replay_timeout=0):  # stops before the database is back
        first.add(reading(1))
        await asyncio.wait_for(first.add(reading(2)), timeout=5)
    store.down = False

    second = make_buffer(store, tmp_path, max_size=2)
    async with second.running():
        await asyncio.wait_for(store.written.wait(), timeout=10)
    assert store.values == [1.0, 2.0]


async def test_neither_database_nor_spool_holds_the_acknowledgement(tmp_path: Path) -> None:
    store = Store()
    store.down = True
    buffer = IngestBuffer(
        store.write, Spool(tmp_path / "spool", 1), Metrics(), max_size=1, max_age=60
    )  # nothing fits in the spool: disk full
    async with buffer.running():
        done = buffer.add(reading(1))
        await store.wait_attempts(2)  # written, refused, spooled, refused, and tried again
        assert not done.done(), "a message neither stored nor spooled must not be acknowledged"
        store.down = False
        await asyncio.wait_for(done, timeout=10)
        assert store.values == [1.0]


class FirstWriteWaits(Store):
    """A database whose first write takes long (until `gate` is set): messages pile up meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def write(self, batch: Batch) -> None:
        if not self.batches:
            await self.gate.wait()
        await super().write(batch)


async def pile_up_a_backlog(buffer: IngestBuffer, store: FirstWriteWaits) -> None:
    """A first batch of 5 that the database holds, 495 more behind it, then release the database
    and wait until the last message is durable."""
    for n in range(5):
        buffer.add(reading(n))
    await asyncio.sleep(0)
    backlog = [buffer.add(reading(n)) for n in range(5, 500)]
    store.gate.set()
    await asyncio.wait_for(backlog[-1], timeout=10)


async def test_a_backlog_past_its_limit_goes_to_the_spool(tmp_path: Path) -> None:
    store = FirstWriteWaits()
    metrics = Metrics()
    buffer = make_buffer(store, tmp_path, max_size=5, backlog_limit=100, metrics=metrics)
    async with buffer.running():
        await pile_up_a_backlog(buffer, store)
        spooled = metrics.registry.get_sample_value("sensorhub_measurements_spooled_total")
        assert spooled is not None and spooled >= 495, "the backlog was spooled, not waited for"
    assert sorted(store.values) == sorted(float(n % 50) for n in range(500))
    assert store.batches[0].measurement_count == 5


async def test_a_backlog_within_its_limit_goes_straight_to_the_database(tmp_path: Path) -> None:
    """A healthy database drains a backlog without the spool (issue 14)."""
    store = FirstWriteWaits()
    metrics = Metrics()
    buffer = make_buffer(store, tmp_path, max_size=5, backlog_limit=1000, metrics=metrics)
    async with buffer.running():
        await pile_up_a_backlog(buffer, store)
    assert metrics.registry.get_sample_value("sensorhub_measurements_spooled_total") == 0
    assert [b.messages for b in store.batches] == [5, 495]


async def test_a_backlog_is_written_in_sealed_batches_of_at_most_max_batch(tmp_path: Path) -> None:
    """While a batch is written the next ones fill up to `max_batch` each: the flusher always has
    a whole batch to write next, and the durable futures complete batch by batch, in order."""
    store = FirstWriteWaits()
    buffer = make_buffer(store, tmp_path, max_size=5, max_batch=100)
    async with buffer.running():
        for n in range(5):
            buffer.add(reading(n))
        await asyncio.sleep(0)
        backlog = [buffer.add(reading(n)) for n in range(5, 500)]
        assert buffer.depth == 495, "sealed batches count as waiting"
        assert not any(f.done() for f in backlog)
        store.gate.set()
        await asyncio.wait_for(backlog[-1], timeout=10)
        assert all(f.done() for f in backlog)
    assert [b.messages for b in store.batches] == [5, 100, 100, 100, 100, 95]
    assert [b.measurement_count for b in store.batches] == [5, 100, 100, 100, 100, 95]


async def test_a_full_batch_is_sealed_even_when_max_size_is_larger(tmp_path: Path) -> None:
    """`max_batch` caps the flush size too: reading never waits for a batch it cannot fill."""
    store = Store()
    buffer = make_buffer(store, tmp_path, max_size=1_000, max_age=3600, max_batch=10)
    async with buffer.running():
        futures = [buffer.add(reading(n)) for n in range(10)]
        await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
    assert [b.messages for b in store.batches] == [10]
