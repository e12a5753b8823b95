"""`python -m bench drain`: sensorhub drains a QoS 1 backlog queued at the broker while it was down.

100 modules × 8 sensors, half plain numbers, half `{"value", "time"}`: 200,000 messages (20,000 with
`--quick`) are queued on a Mosquitto of the benchmark's own (deep queue, persistence off) for
sensorhub's session while sensorhub is stopped (SIGSTOP, after `GET /ready`), then it is resumed
(SIGCONT) and drains them. CPU time comes from /proc (psutil), from the resume until every row is
stored: sensorhub's process, the PostgreSQL backends of the benchmark's database, the broker.
Three runs; the table gives min / median / max.

Why stopped rather than restarted: a restarted sensorhub connects to the broker, and drains,
before `/ready` answers, so a window starting at `/ready` missed a varying part of the drain
(8,000–37,000 of 200,000 rows were already stored), and one starting at the spawn would hold the
start-up. A stopped process keeps its connection (keepalive 30 s; the backlog is queued in a few
seconds) and the broker queues what does not fit the socket buffers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from bench.common import (
    ProcessSampler,
    Table,
    count,
    create_database,
    drop_database,
    sensorhub,
    wait_for_count,
)
from sensorhub.plugins.embedded import free_port

MODULES, SENSORS = 100, 8
RUNS = 3


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[str, psutil.Process]]:
    directory = Path(tempfile.mkdtemp(prefix="bench-drain-mosquitto-"))
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        "max_queued_bytes 0\nmax_inflight_messages 0\nlog_dest none\nuser root\n"
    )
    process = subprocess.Popen(["mosquitto", "-c", str(config)])
    try:
        time.sleep(0.5)
        yield f"mqtt://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def messages(total: int) -> Iterator[tuple[str, bytes]]:
    base = datetime.now(UTC) - timedelta(hours=2)
    for n in range(total):
        module, sensor = n % MODULES, (n // MODULES) % SENSORS
        topic = f"drain-{module:03d}/s{sensor}/temperature"
        if n % 2:
            yield topic, f"{20 + n % 100 / 10}".encode()
        else:
            stamp = (base + timedelta(milliseconds=n)).isoformat()
            yield topic, json.dumps({"value": n % 80, "time": stamp}).encode()


async def queue_backlog(broker_url: str, total: int) -> None:
    port = int(broker_url.rsplit(":", 1)[1])
    client = Client(f"drain-pub-{uuid.uuid4().hex[:6]}")
    await client.connect("127.0.0.1", port, version=MQTTv50)
    for n, (topic, payload) in enumerate(messages(total), 1):
        client.publish(topic, payload, qos=1)
        if n % 10_000 == 0:
            await client._persistent_storage.wait_empty()
    await client._persistent_storage.wait_empty()
    await client.disconnect()


def postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving `database` (the machine is shared)."""
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and f" {database} " in title:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


async def one_run(total: int) -> dict[str, float]:
    database_url = await create_database("drain")
    database = database_url.rsplit("/", 1)[1]
    client_id = f"drain-{uuid.uuid4().hex[:8]}"
    try:
        with private_broker() as (broker_url, broker):
            env = {"MQTT_URL": broker_url, "MQTT_CLIENT_ID": client_id, "BUFFER_MAX_AGE": "0.5"}
            with sensorhub(database_url, "#", **env) as hub:
                hub.process.send_signal(signal.SIGSTOP)
                try:
                    await queue_backlog(broker_url, total)
                    broker_cpu = sum(broker.cpu_times()[:2])
                    pg_cpu = postgres_cpu(database)
                    sampler = ProcessSampler(hub.process.pid).start()
                finally:
                    hub.process.send_signal(signal.SIGCONT)
                stored, _ = await wait_for_count(
                    database_url, "SELECT count(*) FROM measurements", total, limit=600
                )
                cpu, wall = sampler.stop()
                pg_cpu = postgres_cpu(database) - pg_cpu  # before its backends exit
                spooled = hub.metric("sensorhub_measurements_spooled_total")
                writing = hub.metric("sensorhub_flush_duration_seconds_sum")
                batches = hub.metric("sensorhub_flush_duration_seconds_count")
            broker_cpu = sum(broker.cpu_times()[:2]) - broker_cpu
        return {
            "stored": stored,
            "rate": stored / wall,
            "sensorhub_us": cpu / stored * 1e6,
            "postgres_us": pg_cpu / stored * 1e6,
            "broker_us": broker_cpu / stored * 1e6,
            "rss_mib": sampler.peak_rss / 2**20,
            "spooled": spooled,
            "batches": batches,
            "writing": writing / wall,
        }
    finally:
        await drop_database(database_url)
        with contextlib.suppress(Exception):
            await count(database_url, "SELECT 1")


def _spread(values: list[float], digits: int = 1) -> str:
    return " / ".join(
        f"{v:,.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


async def run(quick: bool = False) -> list[Table]:
    total = 20_000 if quick else MODULES * SENSORS * 250
    runs = [await one_run(total) for _ in range(1 if quick else RUNS)]
    table = Table(
        title="Draining a QoS 1 backlog",
        goal="≤ 8 µs sensorhub CPU per reading, ≥ 60,000 rows/s, PostgreSQL ≤ 7 µs per row",
        command="python -m bench drain",
        columns=["figure", "min / median / max"],
    )
    for label, key, digits in [
        ("rows stored", "stored", 0),
        ("drain rate (rows/s)", "rate", 0),
        ("sensorhub CPU per row (µs)", "sensorhub_us", 1),
        ("PostgreSQL CPU per row (µs)", "postgres_us", 1),
        ("broker CPU per row (µs)", "broker_us", 1),
        ("sensorhub peak RSS (MiB)", "rss_mib", 0),
        ("rows spooled", "spooled", 0),
        ("batches written", "batches", 0),
        ("share of the drain spent in database writes", "writing", 2),
    ]:
        table.rows.append([label, _spread([r[key] for r in runs], digits)])
    table.notes.append(
        f"{total:,} messages from {MODULES} modules × {SENSORS} sensors, half plain numbers, half "
        "{value, time}; a Mosquitto of the benchmark's own; BUFFER_MAX_AGE=0.5; CPU from /proc "
        "(PostgreSQL: the backends of the benchmark's database only)."
    )
    for row in table.rows:
        print(f"  {row[0]}: {row[1]}", flush=True)
    return [table]


if __name__ == "__main__":
    asyncio.run(run())
