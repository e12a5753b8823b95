"""Fault soak (not in CI): a steady QoS 1 stream for many minutes while faults repeat.

`python -m bench.soak_faults --minutes 10 --rate 500` runs `sensorhub serve` as a subprocess
against an embedded PostgreSQL and a Mosquitto of its own (both stoppable), and cycles through:
PostgreSQL stopped for 30 s, the broker restarted, sensorhub SIGKILLed and restarted. At the end it
prints readings published vs stored (they must match) and the sensorhub process's RSS over time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from sensorhub.plugins.embedded import EmbeddedPostgres, free_port
from tests.faults.helpers import Mosquitto, SteadyStream
from tests.support import (
    Publisher,
    db_count,
    is_ready,
    serve_process,
    wait_until,
    world_traversable_dir,
)

FAULTS = ("database down 30 s", "broker restart", "sensorhub SIGKILL")
COUNT = "SELECT count(*) FROM measurements"


class Hub:
    """`sensorhub serve` as a subprocess that can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self.rss: list[tuple[float, float]] = []

    async def start(self) -> None:
        self.process = serve_process(self.env, self.log)
        base_url = f"http://127.0.0.1:{self.port}"
        await wait_until(lambda: is_ready(base_url), timeout=90, interval=0.2, what="ready")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)

    def sample(self, started: float) -> None:
        if self.process is not None:
            with contextlib.suppress(psutil.Error):
                rss = psutil.Process(self.process.pid).memory_info().rss / 2**20
                self.rss.append((time.monotonic() - started, rss))


async def soak(minutes: float, rate: float) -> int:
    root = Path(tempfile.mkdtemp(prefix="sensorhub-soak-faults-"))
    broker = Mosquitto(root)
    await broker.start()
    with world_traversable_dir("sensorhub-soak-pg-") as pg_dir:
        pg = EmbeddedPostgres(pg_dir)
        database_url = await pg.start()
        env = {
            "DATABASE_URL": database_url,
            "MQTT_URL": broker.url,
            "MQTT_PROTOCOL": "5",
            "MQTT_TOPICS": "soak/#",
            "MQTT_CLIENT_ID": "sensorhub-soak-faults",
            "DATA_DIR": str(root / "data"),
            "PORT": str(free_port()),
            "BUFFER_MAX_AGE": "0.5",
            "LOG_LEVEL": "WARNING",
        }
        hub = Hub(env, root / "serve.log")
        await hub.start()
        started = time.monotonic()
        deadline = started + minutes * 60
        published = 0
        try:
            cycle = 0
            while time.monotonic() < deadline:
                fault = FAULTS[cycle % len(FAULTS)]
                async with Publisher(broker.url, f"soak-pub-{cycle}") as publisher:
                    stream = SteadyStream(publisher, "soak/seq", rate, start=published).start()
                    await _sleep_sampling(hub, started, 20)
                    print(f"{time.monotonic() - started:7.1f}s  {fault}", flush=True)
                    if fault == FAULTS[0]:
                        await pg.stop()
                        await _sleep_sampling(hub, started, 30)
                        pg = EmbeddedPostgres(pg_dir)
                        await pg.start()
                    elif fault == FAULTS[2]:
                        hub.kill()
                        await asyncio.sleep(2)
                        await hub.start()
                    await _sleep_sampling(hub, started, 10)
                    published = await stream.stop()
                    if fault == FAULTS[1]:
                        await publisher.drain()
                if fault == FAULTS[1]:
                    await broker.stop()
                    await broker.start()
                cycle += 1
            await wait_until(
                lambda: _caught_up(database_url, published),
                timeout=300,
                interval=1.0,
                what="every reading stored",
            )
            stored = await db_count(database_url, COUNT)
            distinct = await db_count(
                database_url, "SELECT count(DISTINCT value) FROM measurements"
            )
        finally:
            hub.stop()
            await broker.stop()
            await pg.stop()
            shutil.rmtree(root, ignore_errors=True)
    samples = hub.rss
    print(f"\nfaults: {cycle} cycles of {', '.join(FAULTS)} over {minutes:g} min at {rate:g}/s")
    print(f"published={published} stored={stored} distinct={distinct}")
    if samples:
        print(
            f"sensorhub RSS: first={samples[0][1]:.1f}MiB max={max(r for _, r in samples):.1f}MiB "
            f"last={samples[-1][1]:.1f}MiB ({len(samples)} samples)"
        )
    return 0 if stored == distinct == published else 1


async def _caught_up(database_url: str, published: int) -> bool:
    return await db_count(database_url, COUNT) >= published


async def _sleep_sampling(hub: Hub, started: float, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        hub.sample(started)
        await asyncio.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="readings per second")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(soak(arguments.minutes, arguments.rate)))


if __name__ == "__main__":
    main()
