"""Scale-out: ingest throughput with one and with two sensorhub instances on one shared group.

Both runs offer the same QoS 1 stream (`bench.ingest.generate`, 100 modules) at one fixed rate near
this machine's limit: `BENCH_SCALE_RATE`, else the highest zero-loss rate in
`bench/results/ingest.json`, else 20,000 msg/s. The instances are `sensorhub serve` subprocesses on
one database; with two, they subscribe through `$share/<group>/…` (Mosquitto 2 splits the stream
round-robin). Besides stored rate and loss, the table gives the CPU of each sensorhub process, of
Mosquitto and of all PostgreSQL processes, and of the whole machine, to show what limits the result:
on a 2-core machine broker, database, generator and instances all compete for the same cores.

Each instance subscribes to this run's module topics only (one filter per module), and its
persistent broker session is removed afterwards, so runs leave nothing queued in the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.common import (
    RESULTS_DIR,
    ProcessSampler,
    Sensorhub,
    Table,
    create_database,
    drop_database,
    sensorhub,
    wait_for_count,
)
from bench.ingest import MODULES, SETTLE_SECONDS, generate

DEFAULT_RATE = 20_000.0
BUFFER_MAX_AGE = 1.0
ACCEPTED = "sensorhub_messages_accepted_total"

COLUMNS = [
    "instances",
    "offered msg/s",
    "generator reached msg/s",
    "acked by broker",
    "taken by instances",
    "stored",
    "lost",
    "drain after end (s)",
    "stored msg/s",
    "share per instance",
    "sensorhub CPU % (each)",
    "mosquitto CPU %",
    "postgres CPU %",
    "machine CPU % (all cores)",
]


@dataclass
class ScaleRun:
    instances: int
    offered: float
    generator_rate: float
    sent: int
    stored: int
    publish_seconds: float
    drain_seconds: float
    shares: list[float] = field(default_factory=list)
    sensorhub_cpu: list[float] = field(default_factory=list)
    broker_cpu: float | None = None
    database_cpu: float | None = None
    machine_cpu: float = 0.0

    @property
    def lost(self) -> int:
        return self.sent - self.stored

    @property
    def stored_rate(self) -> float:
        """Readings stored per second, from the first publish until the table caught up."""
        catch_up = self.drain_seconds if self.lost <= 0 else self.drain_seconds - SETTLE_SECONDS
        seconds = self.publish_seconds + max(catch_up, 0.0)
        return self.stored / seconds if seconds > 0 else 0.0

    def row(self) -> list[Any]:
        total = sum(self.shares) or 1.0
        return [
            self.instances,
            f"{self.offered:,.0f}",
            f"{self.generator_rate:,.0f}",
            self.sent,
            f"{sum(self.shares):.0f}",
            self.stored,
            self.lost,
            f"{self.drain_seconds:.1f}",
            f"{self.stored_rate:,.0f}",
            " / ".join(f"{100 * share / total:.0f}%" for share in self.shares),
            " / ".join(f"{cpu:.0f}" for cpu in self.sensorhub_cpu),
            "n/a" if self.broker_cpu is None else f"{self.broker_cpu:.0f}",
            "n/a" if self.database_cpu is None else f"{self.database_cpu:.0f}",
            f"{self.machine_cpu:.0f}",
        ]


class NamedProcessesCpu:
    """CPU time used by every local process with a given name (e.g. all `postgres` backends)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._start = self._snapshot()
        self._started = time.monotonic()

    def _snapshot(self) -> dict[int, float]:
        times: dict[int, float] = {}
        for process in psutil.process_iter(["name"]):
            with contextlib.suppress(psutil.Error):
                if process.info["name"] == self.name:
                    cpu = process.cpu_times()
                    times[process.pid] = cpu.user + cpu.system
        return times

    def percent(self) -> float | None:
        """CPU % of one core since creation; None when no such process is visible."""
        end = self._snapshot()
        if not end and not self._start:
            return None
        used = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in end.items())
        return 100 * used / (time.monotonic() - self._started)


def offered_rate() -> float:
    """`BENCH_SCALE_RATE`, else the best zero-loss rate of the last full ingest run, else 20,000."""
    if os.environ.get("BENCH_SCALE_RATE"):
        return float(os.environ["BENCH_SCALE_RATE"])
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
        document = json.loads((RESULTS_DIR / "ingest.json").read_text(encoding="utf-8"))
        ramp = document["tables"][0]
        columns = ramp["columns"]
        offered, lost = columns.index("offered msg/s"), columns.index("lost")
        rates = [
            float(str(row[offered]).replace(",", "")) for row in ramp["rows"] if int(row[lost]) == 0
        ]
        if rates:
            return max(rates)
    return DEFAULT_RATE


async def measure(instances: int, rate: float, duration: float, processes: int = 2) -> ScaleRun:
    database_url = await create_database("bench_scale")
    prefix = f"s{uuid.uuid4().hex[:6]}"
    topics = ",".join(f"{prefix}-{n:03d}/#" for n in range(1, MODULES + 1))
    client_ids = [f"bench-scale-{prefix}-{n}" for n in range(instances)]
    env = {"BUFFER_MAX_AGE": str(BUFFER_MAX_AGE)}
    if instances > 1:
        env["MQTT_SHARED_GROUP"] = f"bench-{prefix}"
    try:
        with contextlib.ExitStack() as stack:
            hubs: list[Sensorhub] = [
                stack.enter_context(sensorhub(database_url, topics, MQTT_CLIENT_ID=cid, **env))
                for cid in client_ids
            ]
            samplers = [ProcessSampler(hub.process.pid).start() for hub in hubs]
            broker = NamedProcessesCpu("mosquitto")
            database = NamedProcessesCpu("postgres")
            psutil.cpu_percent(None)
            started = time.monotonic()
            stats = await asyncio.to_thread(generate, prefix, rate, duration, processes)
            publish_seconds = time.monotonic() - started
            stored, drain = await wait_for_count(
                database_url,
                f"SELECT count(*) FROM measurements WHERE module_id LIKE '{prefix}-%'",
                stats.sent,
                settle=SETTLE_SECONDS,
            )
            machine_cpu = psutil.cpu_percent(None)
            broker_cpu, database_cpu = broker.percent(), database.percent()
            cpu = []
            for sampler in samplers:
                seconds, wall = sampler.stop()
                cpu.append(100 * seconds / wall)
            shares = [hub.metric(ACCEPTED, kind="measurement") for hub in hubs]
        return ScaleRun(
            instances=instances,
            offered=rate,
            generator_rate=stats.rate,
            sent=stats.sent,
            stored=stored,
            publish_seconds=stats.elapsed or publish_seconds,  # without worker start-up
            drain_seconds=drain,
            shares=shares,
            sensorhub_cpu=cpu,
            broker_cpu=broker_cpu,
            database_cpu=database_cpu,
            machine_cpu=machine_cpu,
        )
    finally:
        await drop_database(database_url)


async def run(quick: bool = False) -> list[Table]:
    rate = 500.0 if quick else offered_rate()
    duration = 3.0 if quick else 20.0
    table = Table(
        title="Scale-out: one and two instances on one shared subscription",
        goal="two instances store the same zero-loss stream, each taking about half; "
        "show what limits throughput on this machine",
        command="python -m bench scale",
        columns=COLUMNS,
    )
    runs = [await measure(instances, rate, duration) for instances in (1, 2)]
    table.rows.extend(run.row() for run in runs)
    cores = psutil.cpu_count() or 1
    table.notes.append(
        f"Offered {rate:,.0f} msg/s for {duration:.0f} s from {MODULES} simulated modules (QoS 1, "
        f"generator in 2 processes); broker, PostgreSQL, the generator and the instances share "
        f"this machine's {cores} cores. CPU % is of one core (100 = one core busy); "
        "machine CPU % is of all cores."
    )
    table.notes.append(
        f"`taken by instances` counts the measurements the instances accepted from the broker. "
        f"The instances run with BUFFER_MAX_AGE={BUFFER_MAX_AGE} s (default 10 s) so that the last "
        f"partial batch is written within the {SETTLE_SECONDS:.0f} s the benchmark waits for the "
        "table to stop growing; with the default it would still be waiting and count as lost."
    )
    one, two = runs
    if one.stored_rate:
        table.notes.append(
            f"Two instances stored {two.stored_rate / one.stored_rate:.2f} times the rate of one "
            f"({two.stored_rate:,.0f} vs {one.stored_rate:,.0f} msg/s); machine CPU was "
            f"{one.machine_cpu:.0f}% and {two.machine_cpu:.0f}% of all cores."
        )
    return [table]
