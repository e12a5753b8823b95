"""Ingest throughput: the highest QoS 1 rate stored with zero loss, versus one INSERT per message.

sensorhub runs as a subprocess against the local PostgreSQL and a Mosquitto of the benchmark's own
with Mosquitto's default limits (`common.default_mosquitto`: `max_queued_messages 1000`); the load
generator is `bench.publisher` (pre-encoded QoS 1 packets on raw sockets, a few µs of CPU per
message) in one process. Everything shares this machine's cores, as in the seed's own measurement.
Loss = readings the broker acknowledged to the generator minus rows in the table; the broker's
`$SYS/broker/publish/messages/dropped` says how many of them it dropped from sensorhub's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psutil

from bench import common
from bench.common import (
    ProcessSampler,
    Table,
    broker_counters,
    count,
    create_database,
    default_mosquitto,
    drop_database,
    sensorhub,
    wait_for_count,
)
from bench.publisher import PublishStats, publish
from sensorhub.config import Settings

MODULES = 100
SETTLE_SECONDS = 5.0
BUFFER_MAX_AGE = "1"
DEFAULT_BATCH = Settings.model_fields["buffer_max_size"].default
DEFAULT_WINDOW = Settings.model_fields["mqtt_receive_maximum"].default
"""Flush age for the benchmark: with the default 10 s the last partial batch would still be waiting
when the count settles. Under load batches fill up long before (see rows per round trip)."""


def module_topics(prefix: str) -> str:
    return ",".join(f"{prefix}-{n:03d}/#" for n in range(1, MODULES + 1))


@dataclass
class IngestRun:
    offered: float
    sent: int
    stored: int
    publish_seconds: float
    drain_seconds: float
    cpu_percent: float
    peak_rss_mb: float
    rows_per_round_trip: float
    generator_rate: float
    stored_while_publishing: int = 0
    generator_cpu_percent: float = 0.0
    broker_cpu_percent: float | None = None
    broker_dropped: int | None = None
    received: int = 0

    @property
    def lost(self) -> int:
        return self.sent - self.stored

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.drain_seconds <= SETTLE_SECONDS

    def row(self) -> list[Any]:
        return [
            f"{self.offered:,.0f}",
            f"{self.generator_rate:,.0f}",
            self.sent,
            self.stored,
            self.lost,
            f"{self.drain_seconds:.1f}",
            f"{self.cpu_percent:.0f}",
            f"{self.peak_rss_mb:.0f}",
            f"{self.rows_per_round_trip:.0f}",
            f"{self.generator_cpu_percent:.0f}",
            "n/a" if self.broker_cpu_percent is None else f"{self.broker_cpu_percent:.0f}",
            "n/a" if self.broker_dropped is None else self.broker_dropped,
        ]


COLUMNS = [
    "offered msg/s",
    "generator reached msg/s",
    "acked by broker",
    "stored",
    "lost",
    "drain after end (s)",
    "sensorhub CPU %",
    "peak RSS (MB)",
    "rows per DB round trip",
    "generator CPU %",
    "broker CPU %",
    "broker dropped",
]


def generate(
    prefix: str, rate: float, duration: float, processes: int = 1, broker_url: str | None = None
) -> PublishStats:
    """Publish `MODULES` modules' readings at `rate` msg/s (QoS 1) to `broker_url` (default:
    `common.BROKER_URL`); `sent` in the result counts the broker's PUBACKs."""
    return publish(
        broker_url or common.BROKER_URL,
        prefix,
        rate,
        duration,
        processes=processes,
        connections=4,
        modules=MODULES,
    )


def _socketio_clients(base_url: str, clients: int, ready: Any, stop: Any, received: Any) -> None:
    import socketio

    async def main() -> None:
        counters = [0] * clients
        sios = []
        for index in range(clients):
            sio = socketio.AsyncClient(reconnection=False)

            def handler(data: Any, index: int = index) -> None:
                counters[index] += 1

            sio.on("mqtt-message", handler)
            auth = {"events": ["mqtt-message"]}
            await sio.connect(base_url, transports=["websocket"], auth=auth)
            sios.append(sio)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        received.value = sum(counters)
        for sio in sios:
            await sio.disconnect()

    asyncio.run(main())


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return float(times.user + times.system)
    return 0.0


async def measure(
    rate: float,
    duration: float,
    *,
    processes: int = 1,
    socketio_clients: int = 0,
    settle: float = SETTLE_SECONDS,
    broker_url: str | None = None,
    **env: str,
) -> tuple[IngestRun, int]:
    """One run at `rate` msg/s for `duration` s against `broker_url`, or a default Mosquitto of
    its own when None; (the run, events the Socket.IO clients received)."""
    database_url = await create_database("bench_ingest")
    prefix = f"b{uuid.uuid4().hex[:6]}"
    received = 0
    try:
        with contextlib.ExitStack() as stack:
            broker: psutil.Process | None = None
            if broker_url is None:
                broker_url, broker = stack.enter_context(default_mosquitto())
            env.setdefault("BUFFER_MAX_AGE", BUFFER_MAX_AGE)
            env["MQTT_URL"] = broker_url
            hub = stack.enter_context(sensorhub(database_url, module_topics(prefix), **env))
            context = multiprocessing.get_context("spawn")
            stop, ready = context.Event(), context.Event()
            events = context.Value("q", 0)
            viewers = None
            if socketio_clients:
                viewers = context.Process(
                    target=_socketio_clients,
                    args=(hub.base_url, socketio_clients, ready, stop, events),
                )
                viewers.start()
                ready.wait(60)
            sampler = ProcessSampler(hub.process.pid).start()
            broker_cpu = _cpu(broker)
            started = time.monotonic()
            stats = await asyncio.to_thread(generate, prefix, rate, duration, processes, broker_url)
            publish_seconds = time.monotonic() - started
            counting = f"SELECT count(*) FROM measurements WHERE module_id LIKE '{prefix}-%'"
            stored_at_end = await count(database_url, counting)
            stored, drain = await wait_for_count(database_url, counting, stats.sent, settle=settle)
            cpu_seconds, wall = sampler.stop()
            broker_cpu = _cpu(broker) - broker_cpu
            if viewers is not None:
                stop.set()
                viewers.join(30)
                received = int(events.value)
            batch_rows = hub.metric("sensorhub_batch_rows_sum")
            batch_count = hub.metric("sensorhub_batch_rows_count") or 1.0
            taken = int(hub.metric("sensorhub_messages_received_total"))
            counters = broker_counters(broker_url) if broker is not None else {}
        run = IngestRun(
            offered=rate,
            sent=stats.sent,
            stored=stored,
            publish_seconds=stats.elapsed or publish_seconds,
            drain_seconds=drain,
            cpu_percent=100 * cpu_seconds / wall,
            peak_rss_mb=sampler.peak_rss / 2**20,
            rows_per_round_trip=batch_rows / batch_count,
            generator_rate=stats.rate,
            stored_while_publishing=stored_at_end,
            generator_cpu_percent=100 * stats.cpu_seconds / (stats.elapsed or 1.0),
            broker_cpu_percent=100 * broker_cpu / wall if broker is not None else None,
            broker_dropped=(
                int(counters.get("publish/messages/dropped", "0")) if broker is not None else None
            ),
            received=taken,
        )
        return run, received
    finally:
        await drop_database(database_url)


async def run(quick: bool = False) -> list[Table]:
    duration = 3.0 if quick else 20.0
    rates = (
        [1000.0] if quick else [5_000.0, 10_000.0, 15_000.0, 20_000.0, 25_000.0, 30_000.0, 40_000.0]
    )
    ramp = Table(
        title="Ingest: QoS 1 measurements stored with zero loss",
        goal="≥ 25,000 msg/s sustained with every reading committed (stretch 40,000); seed: 15,000",
        command="python -m bench ingest",
        columns=COLUMNS,
    )
    best: IngestRun | None = None
    for rate in rates:
        result, _ = await measure(rate, duration)
        ramp.rows.append(result.row())
        if result.sustained and (best is None or result.stored > best.stored):
            best = result
    if best is not None:
        ramp.notes.append(
            f"Highest rate stored with zero loss and the database caught up within {SETTLE_SECONDS:.0f} s: "
            f"{best.sent / best.publish_seconds:,.0f} msg/s ({best.sent:,} readings in {best.publish_seconds:.0f} s)."
        )
    ramp.notes.append(
        f"{MODULES} simulated modules, {duration:.0f} s per rate, generator (bench.publisher) in 1 process with QoS 1, a Mosquitto of its own with default limits, "
        f"BUFFER_MAX_AGE={BUFFER_MAX_AGE} s, everything else default (BUFFER_MAX_SIZE {DEFAULT_BATCH:,}, "
        f"MQTT_RECEIVE_MAXIMUM {DEFAULT_WINDOW:,}); "
        "broker, PostgreSQL, sensorhub and generator share the machine's 2 cores."
    )
    tables = [ramp]

    top = best.offered if best is not None else rates[0]
    baseline = Table(
        title="Baseline: one INSERT per message (the naive design), same stream",
        goal="state the ratio to sensorhub's batched writes",
        command="python -m bench ingest",
        columns=[*COLUMNS, "stored while publishing"],
    )
    from bench.ingest_naive import naive_baseline  # it builds on this module

    naive = await naive_baseline(min(top, 10_000.0), duration)
    baseline.rows.append([*naive.row(), getattr(naive, "stored_during_publish", "")])
    naive_rate = getattr(naive, "stored_during_publish", 0) / naive.publish_seconds
    if best is not None and naive_rate:
        baseline.notes.append(
            f"The naive consumer stored {naive_rate:,.0f} readings/s while the stream ran; sensorhub "
            f"stored {best.stored / best.publish_seconds:,.0f}/s — {best.stored / best.publish_seconds / naive_rate:.1f} times as many."
        )
    tables.append(baseline)

    viewers = Table(
        title="Ingest with 10 Socket.IO clients connected",
        goal="the same zero-loss rate with 10 dashboards open (the seed loses 99% at 10,000 msg/s with one)",
        command="python -m bench ingest",
        columns=[*COLUMNS, "events received by the 10 clients"],
    )
    result, received = await measure(top, duration, socketio_clients=10)
    viewers.rows.append([*result.row(), received])
    tables.append(viewers)

    if not quick:
        burst = Table(
            title="Burst: 60 s offered at the generator's maximum",
            goal="no collapse: nothing lost, RSS < 250 MB throughout",
            command="python -m bench ingest",
            columns=COLUMNS,
        )
        result, _ = await measure(60_000.0, 60.0)
        burst.rows.append(result.row())
        burst.notes.append("Offered 60,000 msg/s; the generator reaches what the column says.")
        tables.append(burst)
    return tables
