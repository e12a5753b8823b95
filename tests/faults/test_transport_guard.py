"""The real-broker guard of plugins/gmqtt_adapter.py, and redelivery without duplicates (issue 12.1).

sensorhub runs as a subprocess against a Mosquitto of the test's own. Every test publishes one
reading of each payload form that has no device time — a plain number, JSON without `time`, JSON
with `"time": null`, a clock-corrected time, a log line — and checks that each is stored exactly
once whatever happens between receiving, committing and acknowledging:

- the database blocks (LOCK TABLE) and sensorhub is SIGKILLed: the broker must deliver everything
  again (no PUBACK left before the commit), and it is stored once;
- the batch is committed but its PUBACKs never reach the broker (a proxy holds them) and
  sensorhub is SIGKILLed: the redelivery (DUP=1) gets its first receive time from the receipts;
- the broker restarts while a batch is blocked: the redelivery on the new connection lands on the
  rows of the first delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sensorhub.plugins.embedded import free_port
from tests.faults.helpers import Mosquitto
from tests.support import Publisher, db_count, running_app, wait_until

pytestmark = pytest.mark.slow

FORMS = 5
"""Messages per reading number: four measurement forms and one log line."""


def messages(module_id: str, n: int) -> list[tuple[str, str]]:
    """Reading `n` in every form whose time is the receive time (values distinct per `n`)."""
    return [
        (f"{module_id}/temperature", f"{n}.5"),
        (f"{module_id}/humidity", f'{{"value": {n}}}'),
        (f"{module_id}/counter", f'{{"value": {n}, "time": null}}'),
        (f"{module_id}/co2", f'{{"value": {n}, "time": 12345}}'),  # clock never set
        (f"{module_id}/logs", f"line {n}"),
    ]


async def publish_all(publisher: Publisher, module_id: str, count: int) -> int:
    for n in range(count):
        for topic, payload in messages(module_id, n):
            publisher.publish(topic, payload, qos=1)
    await publisher.drain()
    return count * FORMS


async def stored(database_url: str) -> tuple[int, int]:
    rows = await db_count(database_url, "SELECT count(*) FROM measurements")
    logs = await db_count(database_url, "SELECT count(*) FROM device_logs")
    return rows, logs


class Proxy:
    """A TCP proxy to the broker that can hold back what sensorhub sends (its PUBACKs)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.holding = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    def cut(self) -> None:
        """Close every proxied connection; what was held back is dropped."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer, upstream=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        while data := await reader.read(65536):
            if upstream and self.holding:
                continue  # sensorhub's PUBACKs never reach the broker
            writer.write(data)
        writer.transport.abort()


@contextlib.asynccontextmanager
async def sensorhub(env: dict[str, str], log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sensorhub", "serve"],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until(lambda: _ready(env["PORT"]), timeout=60, what="sensorhub ready")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        await asyncio.to_thread(process.wait, 30)


async def _ready(port: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200
    except httpx.HTTPError:
        return False


async def metric(port: str, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def env_for(tmp_path: Path, database_url: str, broker_url: str, module_id: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "MQTT_PROTOCOL": "5",
        "DATA_DIR": str(tmp_path / "data"),
        "MQTT_TOPICS": f"{module_id}/#",
        "MQTT_CLIENT_ID": f"sh-{module_id}"[:64],
        "PORT": str(free_port()),
        "BUFFER_MAX_AGE": "0.2",
        "LOG_LEVEL": "WARNING",
    }


async def test_no_puback_leaves_before_the_batch_is_committed(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    env = env_for(tmp_path, database_url, mosquitto.url, module_id)
    log = tmp_path / "serve.log"
    async with sensorhub(env, log) as first:
        lock = await asyncpg.connect(database_url)
        transaction = lock.transaction()
        await transaction.start()
        await lock.execute("LOCK TABLE measurements IN ACCESS EXCLUSIVE MODE")
        async with Publisher(mosquitto.url, f"pub-{module_id}") as publisher:
            total = await publish_all(publisher, module_id, 20)

        async def received_all() -> bool:
            return await metric(env["PORT"], "sensorhub_messages_received_total") >= total

        await wait_until(received_all, what="every message received while the table is locked")
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        await transaction.rollback()
        await lock.close()
    assert await stored(database_url) == (0, 0)

    async with sensorhub(env, log):

        async def redelivered_and_stored() -> bool:
            port = env["PORT"]
            return await metric(
                port, "sensorhub_messages_redelivered_total"
            ) >= total and await stored(database_url) == (80, 20)

        await wait_until(redelivered_and_stored, timeout=60, what="every message delivered again")
        assert await metric(env["PORT"], "sensorhub_messages_redelivered_total") == total
    assert await stored(database_url) == (80, 20)


async def test_sigkill_after_commit_before_puback_stores_each_reading_once(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    async with Proxy(mosquitto.port) as proxy:
        env = env_for(tmp_path, database_url, f"mqtt://127.0.0.1:{proxy.port}", module_id)
        log = tmp_path / "serve.log"
        async with sensorhub(env, log) as first:
            proxy.holding = True  # from now on the broker hears nothing from sensorhub
            async with Publisher(mosquitto.url, f"pub-{module_id}") as publisher:
                total = await publish_all(publisher, module_id, 20)
            await wait_until(lambda: _stored_is(database_url, (80, 20)), what="the batch committed")
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        proxy.cut()
        proxy.holding = False

        async with sensorhub(env, log):
            port = env["PORT"]

            async def redelivered_and_flushed() -> bool:
                known = await metric(port, "sensorhub_messages_redelivered_known_total")
                stored_rows = await metric(port, "sensorhub_measurements_stored_total")
                return known >= total and stored_rows >= 80

            await wait_until(redelivered_and_flushed, timeout=60, what="redeliveries stored")
    assert await stored(database_url) == (80, 20), "each reading and log line once"


async def _stored_is(database_url: str, expected: tuple[int, int]) -> bool:
    return await stored(database_url) == expected


async def test_broker_restart_with_messages_in_flight_stores_each_reading_once(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    async with running_app(
        DATABASE_URL=database_url,
        MQTT_URL=mosquitto.url,
        DATA_DIR=str(tmp_path / "data"),
        MQTT_TOPICS=f"{module_id}/#",
        MQTT_CLIENT_ID=f"sh-{module_id}"[:64],
        BUFFER_MAX_AGE="0.2",
    ) as running:
        metrics = running.runtime.metrics
        lock = await asyncpg.connect(database_url)
        transaction = lock.transaction()
        await transaction.start()
        await lock.execute("LOCK TABLE measurements IN ACCESS EXCLUSIVE MODE")
        async with Publisher(mosquitto.url, f"pub-{module_id}") as publisher:
            total = await publish_all(publisher, module_id, 20)
        await wait_until(lambda: metrics.counts.received >= total, what="all received")

        await mosquitto.stop()
        await mosquitto.start()
        await wait_until(
            lambda: metrics.redelivered._value.get() >= total, timeout=60, what="redelivery"
        )
        await transaction.rollback()
        await lock.close()
        await wait_until(
            lambda: metrics.stored._value.get() >= 160, timeout=60, what="both deliveries stored"
        )
        assert metrics.redelivered_known._value.get() == total
    assert await stored(database_url) == (80, 20), "each reading and log line once"
