"""Soak: a moderate steady rate for 10 minutes; RSS and buffer depth sampled — flat means no leak."""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.common import (
    ProcessSampler,
    Table,
    create_database,
    drop_database,
    sensorhub,
    wait_for_count,
)
from bench.ingest import generate, module_topics

RATE = 2_000.0


async def run(quick: bool = False) -> list[Table]:
    duration = 20.0 if quick else 600.0
    database_url = await create_database("bench_soak")
    prefix = f"s{uuid.uuid4().hex[:6]}"
    samples: list[tuple[float, float, float]] = []
    try:
        with sensorhub(database_url, module_topics(prefix), BUFFER_MAX_AGE="1") as hub:
            sampler = ProcessSampler(hub.process.pid, interval=1.0).start()
            stop = asyncio.Event()

            async def watch() -> None:
                started = time.monotonic()
                while not stop.is_set():
                    metrics = await asyncio.to_thread(hub.metrics)
                    rss = sampler.rss_samples[-1][1] / 2**20 if sampler.rss_samples else 0.0
                    samples.append(
                        (
                            time.monotonic() - started,
                            rss,
                            metrics.get("sensorhub_buffer_depth", 0.0),
                        )
                    )
                    await asyncio.sleep(duration / 40)

            watcher = asyncio.create_task(watch())
            stats = await asyncio.to_thread(generate, prefix, RATE, duration, 1)
            stop.set()
            await watcher
            stored, _ = await wait_for_count(
                database_url,
                f"SELECT count(*) FROM measurements WHERE module_id LIKE '{prefix}-%'",
                stats.sent,
            )
            cpu_seconds, wall = sampler.stop()
    finally:
        await drop_database(database_url)

    table = Table(
        title=f"Soak: {RATE:,.0f} msg/s for {duration / 60:.0f} min",
        goal="RSS and buffer depth flat over the run (no leak), nothing lost",
        command="python -m bench soak",
        columns=["minute", "RSS (MB)", "buffer depth"],
    )
    step = max(1, len(samples) // 10)
    for elapsed, rss, depth in samples[::step]:
        table.rows.append([f"{elapsed / 60:.1f}", f"{rss:.0f}", f"{depth:.0f}"])
    first_half = [rss for t, rss, _ in samples if t < duration / 2 and rss]
    second_half = [rss for t, rss, _ in samples if t >= duration / 2 and rss]
    if first_half and second_half:
        table.notes.append(
            f"Mean RSS first half {sum(first_half) / len(first_half):.0f} MB, second half "
            f"{sum(second_half) / len(second_half):.0f} MB; peak {sampler.peak_rss / 2**20:.0f} MB."
        )
    table.notes.append(
        f"Sent {stats.sent:,} readings, stored {stored:,} (lost {stats.sent - stored}); sensorhub CPU "
        f"{100 * cpu_seconds / wall:.0f}% of one core."
    )
    return [table]
