"""What the benchmarks share: services, a sensorhub process, process sampling, result tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from sensorhub.db.urls import with_database
from sensorhub.plugins.embedded import free_port

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
    name = url.rsplit("/", 1)[1].split("?")[0]
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

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"{self.base_url}/metrics", timeout=10).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = values.get(name, 0.0) + float(value)
        return values


def forget_session(client_id: str) -> None:
    """Remove a persistent session from the broker (Clean Start, no expiry), so that a finished
    benchmark's subscription does not keep queueing every later message on the broker."""
    from urllib.parse import urlsplit

    from gmqtt import Client
    from gmqtt.mqtt.constants import MQTTv50

    async def forget() -> None:
        parts = urlsplit(BROKER_URL)
        client = Client(client_id, clean_session=True, session_expiry_interval=0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, version=MQTTv50),
                10,
            )
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
        **os.environ,
        "DATABASE_URL": database_url,
        "MQTT_URL": BROKER_URL,
        "MQTT_TOPICS": topics,
        "MQTT_CLIENT_ID": client_id,
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sensorhub", "serve"],
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    hub = Sensorhub(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sensorhub exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{hub.base_url}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("sensorhub did not become ready in 60 s")
            time.sleep(0.2)
        yield hub
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
        forget_session(client_id)


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
