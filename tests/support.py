"""Test helpers: a real server on a free port, a real MQTT publisher, waiting for conditions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
import socketio
import uvicorn
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311
from prometheus_client.parser import text_string_to_metric_families
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_delay, wait_fixed

from sensorhub.app import SensorhubApp, create_app
from sensorhub.broker_url import BrokerAddress
from sensorhub.config import Settings
from sensorhub.live.coalesce import CoalescingWebSocketProtocol
from sensorhub.live.engine import SendQueue
from sensorhub.metrics import Metrics
from sensorhub.plugins.embedded import free_port
from sensorhub.plugins.socketio import SocketIOPlugin
from sensorhub.runtime import Runtime
from sensorhub.simulate.gmqtt_adapter import InFlightWindow

T = TypeVar("T")


@dataclass
class RunningApp:
    app: SensorhubApp
    base_url: str
    http: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        return self.app.runtime

    @property
    def settings(self) -> Settings:
        return self.app.runtime.settings


def instance_env(
    database_url: str, broker_url: str, module_id: str, data_dir: Path | str, **overrides: str
) -> dict[str, str]:
    """The environment of one test's sensorhub: its database and broker, its own data directory,
    only `module_id`'s topics (tests sharing a broker never mix), a client id derived from it,
    and a short buffer age so tests wait little; `overrides` add or replace variables."""
    return {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "DATA_DIR": str(data_dir),
        "MQTT_TOPICS": f"{module_id}/#",
        "MQTT_CLIENT_ID": f"sh-{module_id}"[:64],
        "BUFFER_MAX_AGE": "0.2",
        **overrides,
    }


EMBEDDED_BROKER_URLS: set[str] = set()
"""Embedded amqtt brokers started by the test session: they speak MQTT 3.1.1 only."""


def with_broker_protocol(env: dict[str, str]) -> dict[str, str]:
    """`env` with MQTT_PROTOCOL=3.1.1 when its broker is an embedded amqtt one and no protocol is
    given; a test's own Mosquitto keeps the MQTT 5 default."""
    if "MQTT_PROTOCOL" not in env and env.get("MQTT_URL") in EMBEDDED_BROKER_URLS:
        return {**env, "MQTT_PROTOCOL": "3.1.1"}
    return env


@contextlib.asynccontextmanager
async def running_app(port: int | None = None, **env: str) -> AsyncIterator[RunningApp]:
    """Serve `create_app(Settings(**env))` with uvicorn until the block exits, on `port` (a free
    one if None; a restart may reuse the port, as a browser reconnecting to one URL needs)."""
    port = port or free_port()
    env = with_broker_protocol(env)
    settings = Settings(port=port, **{name.lower(): value for name, value in env.items()})
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ws=CoalescingWebSocketProtocol,  # as `sensorhub serve`
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout=60, what="server start")
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield RunningApp(app, base_url, http)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=60)
        if settings.mqtt_url is not None:
            await forget_session(settings.mqtt_url, settings.mqtt_client_id)


async def forget_session(broker_url: str, client_id: str) -> None:
    """Remove the persistent session a test instance left on the broker (Clean Start)."""
    broker = BrokerAddress.parse(broker_url)
    client = Client(client_id, clean_session=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.connect(broker.host, broker.port, version=MQTTv311), 10)
        await client.disconnect()


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> None:
    """Poll `condition` every `interval` s until true; fail the test with `what` after `timeout` s."""

    async def check() -> bool:
        result = condition()
        return result if isinstance(result, bool) else await result

    def timed_out(_state: RetryCallState) -> NoReturn:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    polling = AsyncRetrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=timed_out,
    )
    await polling(check)


class Publisher:
    """A real MQTT client that publishes and waits for the broker's acknowledgements."""

    def __init__(self, broker_url: str, client_id: str) -> None:
        broker = BrokerAddress.parse(broker_url)
        self.host = broker.host
        self.port = broker.port
        # The simulator's in-flight window (public persistent_storage argument): drain() awaits it.
        self._in_flight = InFlightWindow(limit=65_535)
        self.client = Client(client_id, persistent_storage=self._in_flight)
        self.received: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()
        self.client.on_message = self._on_message

    def _on_message(
        self, client: Any, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        self.received.put_nowait((topic, payload, bool(properties.get("retain"))))
        return 0

    async def __aenter__(self) -> Publisher:
        await self.client.connect(self.host, self.port, version=MQTTv311)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.disconnect()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until the broker has acknowledged every QoS 1 message published so far."""
        await asyncio.wait_for(self._in_flight.wait_empty(), timeout)


async def db_count(database_url: str, sql: str, *args: Any) -> int:
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        value = await connection.fetchval(sql, *args)
    finally:
        await connection.close()
    return int(value or 0)


@contextlib.contextmanager
def world_traversable_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory outside pytest's private (0700) tree.

    Embedded PostgreSQL runs as its own system user when the tests run as root, and it must be
    able to reach its data directory.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def count_reaches(database_url: str, sql: str, expected: int) -> Callable[[], Awaitable[bool]]:
    """A `wait_until` condition: the count query returns `expected` (or more)."""

    async def check() -> bool:
        return await db_count(database_url, sql) >= expected

    return check


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` in Prometheus text whose labels include `labels`.

    `metric_total(text, "sensorhub_messages_accepted_total", kind="measurement")`; parsed by
    `prometheus_client.parser`, 0.0 when there is no such sample.
    """
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def serve_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`sensorhub serve` as a child process: this environment plus `env`, output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "sensorhub", "serve"],
            env={**os.environ, **with_broker_protocol(env)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def is_ready(base_url: str) -> bool:
    """A `wait_until` condition: `GET {base_url}/ready` answers 200."""
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{base_url}/ready")).status_code == 200
    except httpx.HTTPError:
        return False


BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def reading(n: int) -> bytes:
    """Reading number `n`: value n at its own millisecond, so every reading is a distinct row."""
    stamp = (BASE_TIME + timedelta(milliseconds=n)).isoformat()
    return json.dumps({"value": n, "time": stamp}).encode()


async def publish_stream(
    publisher: Publisher, topic: str, start: int, count: int, rate: float
) -> int:
    """Readings `start` … `start + count - 1` (`reading(n)`) at QoS 1, paced at `rate` per second.

    Returns `start + count`, the number of the next reading.
    """
    chunk = max(1, int(rate / 20))
    for n in range(start, start + count):
        publisher.publish(topic, reading(n), qos=1)
        if (n - start) % chunk == chunk - 1:
            await asyncio.sleep(chunk / rate)
    return start + count


class FakeSocket:
    """What the fan-out touches of an engine.io socket."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.closing = self.closed = self.upgrading = False
        self.upgraded = True
        self.queue = SendQueue()

    def frames(self) -> list[tuple[str, Any]]:
        out = []
        while not self.queue.empty():
            for text in self.queue.get_nowait().message.texts():
                assert text.startswith("42")  # a Socket.IO EVENT on the default namespace
                out.append(tuple(json.loads(text[2:])))
            self.queue._taken = 0
        return out


@contextlib.asynccontextmanager
async def live_server(
    ws: Any = CoalescingWebSocketProtocol, *, deflate: bool = False
) -> AsyncIterator[tuple[str, SocketIOPlugin]]:
    """The Socket.IO plugin alone behind uvicorn on a free port: (base URL, plugin).

    `ws` is uvicorn's WebSocket implementation (a class or a name such as "websockets");
    `deflate` turns on permessage-deflate.
    """
    plugin = SocketIOPlugin(Settings(), Metrics())
    port = free_port()
    config = uvicorn.Config(
        socketio.ASGIApp(plugin.server),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws=ws,
        ws_per_message_deflate=deflate,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, what="server start")
    await plugin.start()
    try:
        yield f"http://127.0.0.1:{port}", plugin
    finally:
        await plugin.stop()
        server.should_exit = True
        await task
