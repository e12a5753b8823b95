"""`python -m bench live`: fixed-rate QoS 1 ingest, CPU per message of sensorhub, PostgreSQL, broker.

A publisher process sends plain numbers from 100 modules × 4 sensors at QoS 1 at a fixed rate
(2,000 and 5,000 msg/s for 30 s; 2,000 msg/s for 5 s with `--quick`) to a Mosquitto of the
benchmark's own; sensorhub runs with its default settings. CPU time comes from /proc (psutil)
for sensorhub's process, the PostgreSQL backends of the benchmark's database and the broker,
from the first message until every message is stored. Three runs per rate: min / median / max.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from multiprocessing.sharedctypes import Synchronized

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from bench.common import (
    ProcessSampler,
    Table,
    create_database,
    drop_database,
    sensorhub,
    wait_for_count,
)
from bench.drain import postgres_cpu, private_broker

MODULES, SENSORS = 100, 4
RUNS = 3
TICK = 0.01


def _publish(port: int, rate: int, seconds: float, sent: Synchronized[int]) -> None:
    """Publish for `seconds` at up to `rate` msg/s; `sent` receives how many were published (a
    loaded machine publishes fewer than rate × seconds)."""

    async def run() -> None:
        client = Client(f"live-pub-{uuid.uuid4().hex[:6]}")
        await client.connect("127.0.0.1", port, version=MQTTv50)
        per_tick, n = max(1, round(rate * TICK)), 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            for _ in range(per_tick):
                topic = f"live-{n % MODULES:03d}/s{(n // MODULES) % SENSORS}/temperature"
                client.publish(topic, f"{20 + n % 100 / 10}", qos=1)
                n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        await client._persistent_storage.wait_empty()
        await client.disconnect()
        sent.value = n

    asyncio.run(run())


async def one_run(rate: int, seconds: float) -> dict[str, float]:
    database_url = await create_database("live")
    database = database_url.rsplit("/", 1)[1]
    try:
        with private_broker() as (broker_url, broker):
            port = int(broker_url.rsplit(":", 1)[1])
            env = {"MQTT_URL": broker_url, "MQTT_CLIENT_ID": f"live-{uuid.uuid4().hex[:8]}"}
            with sensorhub(database_url, "#", **env) as hub:
                broker_cpu, pg_cpu = sum(broker.cpu_times()[:2]), postgres_cpu(database)
                sampler = ProcessSampler(hub.process.pid).start()
                sent = multiprocessing.Value("q", 0)
                publisher = multiprocessing.Process(
                    target=_publish, args=(port, rate, seconds, sent)
                )
                publisher.start()
                await asyncio.to_thread(publisher.join)
                if publisher.exitcode != 0:
                    raise RuntimeError(f"publisher exited with code {publisher.exitcode}")
                expected = sent.value
                stored, _ = await wait_for_count(
                    database_url,
                    "SELECT count(*) FROM measurements",
                    expected,
                    settle=12,
                    limit=120,
                )
                cpu, _ = sampler.stop()
                pg_cpu = postgres_cpu(database) - pg_cpu
                broker_cpu = sum(broker.cpu_times()[:2]) - broker_cpu
        return {
            "stored": stored,
            "sent": expected,
            "sensorhub_us": cpu / stored * 1e6,
            "postgres_us": pg_cpu / stored * 1e6,
            "broker_us": broker_cpu / stored * 1e6,
        }
    finally:
        await drop_database(database_url)


def _spread(values: list[float]) -> str:
    return " / ".join(f"{v:,.1f}" for v in (min(values), statistics.median(values), max(values)))


async def run(quick: bool = False) -> list[Table]:
    plan = [(2_000, 5.0)] if quick else [(2_000, 30.0), (5_000, 30.0)]
    table = Table(
        title="Live QoS 1 ingest at a fixed rate",
        goal="≤ 15 µs backend, ≤ 15 µs PostgreSQL, ≤ 13 µs broker CPU per message at 5,000 msg/s",
        command="python -m bench live",
        columns=[
            "msg/s",
            "stored / sent",
            "sensorhub µs/msg",
            "PostgreSQL µs/msg",
            "broker µs/msg",
        ],
    )
    for rate, seconds in plan:
        runs = [await one_run(rate, seconds) for _ in range(1 if quick else RUNS)]
        row = [
            f"{rate:,}",
            f"{sum(r['stored'] for r in runs):,.0f} / {sum(r['sent'] for r in runs):,.0f}",
            _spread([r["sensorhub_us"] for r in runs]),
            _spread([r["postgres_us"] for r in runs]),
            _spread([r["broker_us"] for r in runs]),
        ]
        table.rows.append(row)
        print(f"  {row}", flush=True)
    table.notes.append(
        f"Plain numbers from {MODULES} modules × {SENSORS} sensors; publisher in its own process; "
        "min / median / max of the runs; CPU from /proc, from the first message until all are stored; "
        "stored / sent: totals over the runs, sent as counted by the publisher."
    )
    return [table]


if __name__ == "__main__":
    asyncio.run(run())
