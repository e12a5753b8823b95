"""`python -m bench.write_micro`: client CPU µs per message of `db.writes.write_batch` alone.

Batches of 100, 500, 2,000 and 10,000 messages are built by the real pipeline from QoS 1
deliveries: `live` (plain numbers, 100 modules × 4 sensors, every one with a receipt) and `drain`
(the messages of `python -m bench drain`, half with a device time). Each batch is written again
and again to a database of the benchmark's own (upserts of the same rows); the figure is the
process CPU time (`time.process_time`, not PostgreSQL's) per message, min / median / max over
`--runs` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.common import create_database, drop_database
from bench.interpret_micro import drain_messages
from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.writes import write_batch
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.delivery import Delivery
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.spool import Spool
from sensorhub.metrics import Metrics

SIZES = (100, 500, 2_000, 10_000)
MESSAGES_PER_RUN = 20_000


def live_messages(count: int) -> list[tuple[str, bytes]]:
    return [(f"live-{n % 100:03d}/s{(n // 100) % 4}/temperature", b"21.5") for n in range(count)]


async def batch_of(messages: list[tuple[str, bytes]], spool_dir: Path) -> Batch:
    """The one batch the pipeline makes of `messages` (QoS 1, packet ids 1, 2, …)."""
    batches: list[Batch] = []

    async def keep(batch: Batch) -> None:
        batches.append(batch)

    size = len(messages)
    metrics = Metrics()
    spool = Spool(spool_dir, 1 << 20)
    buffer = IngestBuffer(keep, spool, metrics, max_size=size, max_age=60, max_batch=size)
    pipeline = IngestPipeline(buffer, metrics)
    async with buffer.running():
        for n, (topic, payload) in enumerate(messages):
            durable = pipeline.accept(Delivery(topic, payload, 1, False, False, n % 65_535 + 1))
        assert durable is not None
        await durable
    return batches[0]


async def measure(runs: int) -> None:
    database_url = await create_database("writemicro")
    try:
        await migrate(Settings(), database_url)
        connection = await asyncpg.connect(database_url)
        try:
            for name in ("live", "drain"):
                for size in SIZES:
                    messages = live_messages(size) if name == "live" else list(drain_messages(size))
                    with tempfile.TemporaryDirectory() as directory:
                        batch = await batch_of(messages, Path(directory))
                    repeat = max(1, MESSAGES_PER_RUN // size)
                    await write_batch(connection, batch, client_id="bench")  # warm the caches
                    cpu: list[float] = []
                    for _ in range(runs):
                        start = time.process_time()
                        for _ in range(repeat):
                            await write_batch(connection, batch, client_id="bench")
                        cpu.append((time.process_time() - start) / (repeat * size) * 1e6)
                    print(
                        f"{name:>5} {size:>6,}: µs/message min {min(cpu):.2f}  median "
                        f"{statistics.median(cpu):.2f}  max {max(cpu):.2f}",
                        flush=True,
                    )
        finally:
            await connection.close()
    finally:
        await drop_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.write_micro", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(measure(parser.parse_args().runs))


if __name__ == "__main__":
    main()
