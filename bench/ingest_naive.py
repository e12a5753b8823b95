"""The naive baseline of `bench.ingest`: the same stream, one INSERT per message.

A gmqtt consumer in its own process interprets each message with sensorhub's `interpret` and
acknowledges it after its own INSERT (8 pooled connections), against a default Mosquitto of its
own; `bench.ingest` tabulates it next to sensorhub's batched writes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from typing import Any

from bench.common import (
    ProcessSampler,
    count,
    create_database,
    default_mosquitto,
    drop_database,
    wait_for_count,
)
from bench.ingest import SETTLE_SECONDS, IngestRun, generate, module_topics


async def naive_baseline(rate: float, duration: float, processes: int = 1) -> IngestRun:
    """The same stream written the naive way: one INSERT per message, acknowledged after it."""
    database_url = await create_database("bench_naive")
    prefix = f"n{uuid.uuid4().hex[:6]}"
    try:
        with default_mosquitto() as (broker_url, _):
            return await _naive_run(database_url, broker_url, prefix, rate, duration, processes)
    finally:
        await drop_database(database_url)


async def _naive_run(
    database_url: str, broker_url: str, prefix: str, rate: float, duration: float, processes: int
) -> IngestRun:
    from sensorhub.config import Settings
    from sensorhub.db.migrate import migrate

    await migrate(Settings(), database_url)
    context = multiprocessing.get_context("spawn")
    stop, ready = context.Event(), context.Event()
    consumer = context.Process(
        target=_naive_consumer, args=(database_url, broker_url, prefix, ready, stop)
    )
    consumer.start()
    ready.wait(30)
    sampler = ProcessSampler(consumer.pid or 0).start()
    started = time.monotonic()
    stats = await asyncio.to_thread(generate, prefix, rate, duration, processes, broker_url)
    publish_seconds = time.monotonic() - started
    stored_at_end = await count(database_url, "SELECT count(*) FROM measurements")
    stored, drain = await wait_for_count(
        database_url,
        "SELECT count(*) FROM measurements",
        stats.sent,
        settle=SETTLE_SECONDS,
        limit=60,
    )
    cpu_seconds, wall = sampler.stop()
    stop.set()
    consumer.join(30)
    if consumer.is_alive():
        consumer.kill()
    run = IngestRun(
        offered=rate,
        sent=stats.sent,
        stored=stored,
        publish_seconds=stats.elapsed or publish_seconds,
        drain_seconds=drain,
        cpu_percent=100 * cpu_seconds / wall,
        peak_rss_mb=sampler.peak_rss / 2**20,
        rows_per_round_trip=1.0,
        generator_rate=stats.rate,
        generator_cpu_percent=100 * stats.cpu_seconds / (stats.elapsed or 1.0),
    )
    run.stored_during_publish = stored_at_end  # type: ignore[attr-defined]
    return run


def _naive_consumer(database_url: str, broker_url: str, prefix: str, ready: Any, stop: Any) -> None:
    from datetime import UTC, datetime

    import asyncpg
    from gmqtt import Client, Subscription
    from gmqtt.mqtt.constants import MQTTv50

    from sensorhub.ingest.interpret import interpret

    insert = (
        "INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (time, module_id, sensor_type, hardware_id) "
        "DO UPDATE SET value = EXCLUDED.value"
    )

    async def main() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=8, max_size=8)
        client = Client(f"naive-{prefix}", optimistic_acknowledgement=False, receive_maximum=10000)

        async def on_message(
            client: Any, topic: str, payload: bytes, qos: int, properties: Any
        ) -> int:
            result = interpret(topic, payload, datetime.now(UTC))
            measurement = getattr(result, "measurement", None)
            if measurement is not None:
                await pool.execute(
                    insert,
                    measurement.time,
                    measurement.module_id,
                    measurement.sensor_type,
                    measurement.hardware_id,
                    measurement.value,
                )
            return 0

        client.on_message = on_message
        host, port = broker_url.split("//")[1].split(":")
        await client.connect(host, int(port), version=MQTTv50)
        client.subscribe([Subscription(topic, qos=1) for topic in module_topics(prefix).split(",")])
        await asyncio.sleep(0.5)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await client.disconnect()
        await pool.close()

    asyncio.run(main())
