"""What the benchmarks share: services, a sensorhub process, process sampling, result tables.

One place for the helpers every benchmark needs: free ports (`free_port`, re-exported from
sensorhub), the `sensorhub serve` subprocess (`tests.support.serve_process`), Prometheus samples
(`tests.support.metric_total`), percentiles (`percentiles`, from `statistics.quantiles`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from sensorhub.broker_url import BrokerAddress
from sensorhub.db.urls import database_name, with_database
from sensorhub.plugins.embedded import free_port
from tests.support import metric_total, serve_process

__all__ = ["free_port"]  # re-exported: the benchmarks' one way to find a free port

DATABASE_SERVER_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BROKER_URL = os.environ.get("BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Table:
    """One table of docs/benchmarks.md."""

    title: str
    goal: str
    command: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def machine() -> str:
    return (
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )


async def create_database(
    prefix: str = "bench", *, server_url: str = DATABASE_SERVER_URL, timescale: bool = False
) -> str:
    """A fresh database on `server_url` (with the TimescaleDB extension created if asked)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    if timescale:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        finally:
            await connection.close()
    return url


async def drop_database(url: str, *, server_url: str = DATABASE_SERVER_URL) -> None:
    name = database_name(url)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def count(url: str, sql: str, *args: Any) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(sql, *args) or 0)
    finally:
        await connection.close()


class ProcessSampler:
    """Samples a process tree's CPU time and RSS in a thread."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.rss_samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_start = self._cpu()
        self._started = time.monotonic()

    def _cpu(self) -> float:
        with contextlib.suppress(psutil.Error):
            times = self.process.cpu_times()
            return times.user + times.system
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(psutil.Error):
                rss = self.process.memory_info().rss
                self.peak_rss = max(self.peak_rss, rss)
                self.rss_samples.append((time.monotonic() - self._started, rss))

    def start(self) -> ProcessSampler:
        self._cpu_start = self._cpu()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> tuple[float, float]:
        """Returns (CPU seconds used, wall seconds) since start."""
        self._stop.set()
        self._thread.join()
        return self._cpu() - self._cpu_start, time.monotonic() - self._started


@dataclass
class Sensorhub:
    """A `sensorhub serve` subprocess."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the `/metrics` samples named `name` whose labels include `labels`."""
        return metric_total(httpx.get(f"{self.base_url}/metrics", timeout=10).text, name, **labels)


def percentiles(values: Iterable[float], points: Iterable[int] = (50, 95, 99)) -> dict[int, float]:
    """The `points` percentiles of `values` (inclusive method: within the observed range)."""
    data = list(values)
    if len(data) == 1:
        return dict.fromkeys(points, data[0])
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    return {point: cuts[point - 1] for point in points}


def forget_session(client_id: str) -> None:
    """Remove a persistent session from the broker (Clean Start, no expiry), so that a finished
    benchmark's subscription does not keep queueing every later message on the broker."""
    from gmqtt import Client
    from gmqtt.mqtt.constants import MQTTv50

    async def forget() -> None:
        broker = BrokerAddress.parse(BROKER_URL)
        client = Client(client_id, clean_session=True, session_expiry_interval=0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.connect(broker.host, broker.port, version=MQTTv50), 10)
            await client.disconnect()

    # A thread of its own: the benchmarks call this from inside their event loop.
    worker = threading.Thread(target=asyncio.run, args=(forget(),))
    worker.start()
    worker.join()


@contextlib.contextmanager
def sensorhub(database_url: str, topics: str, **env: str) -> Iterator[Sensorhub]:
    """Run `sensorhub serve` against the given database and the benchmark broker."""
    port = free_port()
    client_id = env.pop("MQTT_CLIENT_ID", f"bench-{uuid.uuid4().hex[:8]}")
    data_dir = (
        Path(os.environ.get("BENCH_DATA_DIR", "/tmp")) / f"sensorhub-bench-{uuid.uuid4().hex[:8]}"
    )
    log = data_dir.with_suffix(".log")
    environment = {
        "DATABASE_URL": database_url,
        "MQTT_URL": BROKER_URL,
        "MQTT_TOPICS": topics,
        "MQTT_CLIENT_ID": client_id,
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = serve_process(environment, log)
    hub = Sensorhub(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(hub)
        yield hub
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        forget_session(client_id)


def _wait_ready(hub: Sensorhub, limit: float = 60.0) -> None:
    """Until `GET /ready` answers 200; RuntimeError when the process exits or `limit` s pass."""

    def ready() -> bool:
        if hub.process.poll() is not None:
            raise RuntimeError(f"sensorhub exited: {hub.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{hub.base_url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def not_ready(_state: object) -> None:
        raise RuntimeError(f"sensorhub did not become ready in {limit:.0f} s")

    Retrying(
        stop=stop_after_delay(limit),
        wait=wait_fixed(0.2),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=not_ready,
    )(ready)


async def wait_for_count(
    url: str, sql: str, expected: int, *, settle: float = 5.0, limit: float = 120.0
) -> tuple[int, float]:
    """Poll until the count reaches `expected`, or stops growing for `settle` s; (count, seconds)."""
    started = time.monotonic()
    last, last_change = -1, started
    while True:
        value = await count(url, sql)
        now = time.monotonic()
        if value != last:
            last, last_change = value, now
        if value >= expected or now - last_change > settle or now - started > limit:
            return value, now - started
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def default_mosquitto() -> Iterator[tuple[str, psutil.Process]]:
    """A Mosquitto of the benchmark's own with its default limits; yields (url, its process).

    Only the listener and `sys_interval 1` (so `broker_counters` are fresh) are set: the queue
    (`max_queued_messages 1000`), in-flight (`max_inflight_messages 20`) and size limits are
    Mosquitto's defaults, as in the issue's "zero-loss live ingest, Mosquitto defaults".
    """
    directory = Path(tempfile.mkdtemp(prefix="bench-mosquitto-default-"))
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\nlog_dest none\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    process = subprocess.Popen(["mosquitto", "-c", str(config)])
    try:
        Retrying(
            stop=stop_after_delay(15),
            wait=wait_fixed(0.1),
            retry=retry_if_result(lambda ok: not ok),
        )(lambda: _answers(port))
        yield f"mqtt://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def broker_counters(url: str, seconds: float = 2.5) -> dict[str, str]:
    """Mosquitto's `$SYS/broker/…` values (topic without the prefix → text), read for `seconds`.

    E.g. `publish/messages/dropped` (QoS > 0 messages dropped because a client's queue was full;
    absent while 0), `messages/received`, `publish/messages/sent`, `store/messages/count`.
    Empty when `mosquitto_sub` is not installed.
    """
    if shutil.which("mosquitto_sub") is None:
        return {}
    broker = BrokerAddress.parse(url)
    address = ["-h", broker.host, "-p", str(broker.port)]
    result = subprocess.run(
        ["mosquitto_sub", *address, "-t", "$SYS/broker/#", "-v", "-W", str(max(1, round(seconds)))],
        capture_output=True,
        text=True,
        check=False,
    )
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        topic, _, value = line.partition(" ")
        values[topic.removeprefix("$SYS/broker/")] = value
    return values
