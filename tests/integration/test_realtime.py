"""Live events over Socket.IO: real clients, a real broker and PostgreSQL, optionally Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import string
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.integration.live_clients import WAIT, live_client
from tests.support import Publisher, RunningApp, db_count, metric_total, running_app, wait_until

EVENT_FIELDS = {"topic", "moduleId", "kind", "value", "metadata", "time"}


async def test_message_reaches_client_with_documented_fields(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    async with live_client(app) as client, Publisher(broker_url, f"p-{module_id}") as publisher:
        publisher.publish(f"{module_id}/dht22/temperature", "21.5")
        event = await client.next()
        assert set(event) == EVENT_FIELDS
        assert event["topic"] == f"{module_id}/dht22/temperature"
        assert event["moduleId"] == module_id
        assert event["kind"] == "measurement"
        assert event["value"] == 21.5
        assert event["metadata"] is None
        assert event["time"].endswith("Z")

        publisher.publish(f"{module_id}/system", json.dumps({"rssi": -45}))
        status = await client.next()
        assert status["kind"] == "system"
        assert status["topic"] == f"{module_id}/system"
        assert status["value"] is None
        assert status["metadata"]["rssi"] == -45


async def test_rejected_payload_is_not_broadcast(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    async with (
        live_client(app, transports=["websocket"]) as client,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        publisher.publish(f"{module_id}/temperature", "abc")
        publisher.publish(f"{module_id}/temperature", "150")  # out of range
        publisher.publish(f"{module_id}/temperature", "22.5")
        event = await client.next()
        assert event["value"] == 22.5
        assert client.events.empty()


async def test_room_filtering(
    database_url: str, broker_url: str, data_dir: Path, module_id: str
) -> None:
    a, b = f"{module_id}-a", f"{module_id}-b"
    async with (
        running_app(
            DATABASE_URL=database_url,
            MQTT_URL=broker_url,
            DATA_DIR=str(data_dir),
            MQTT_TOPICS=f"{a}/#,{b}/#",
            MQTT_CLIENT_ID=f"sh-{module_id}"[:64],
        ) as running,
        live_client(running, transports=["websocket"]) as only_a,
        live_client(running, transports=["websocket"]) as a_and_b,
        live_client(running, transports=["websocket"]) as everything,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        await only_a.subscribe(a)
        await a_and_b.subscribe(a, b)
        publisher.publish(f"{b}/co2", "600")
        publisher.publish(f"{a}/co2", "500")

        assert (await only_a.next())["moduleId"] == a  # b's event, published first, never came
        received = {(await a_and_b.next())["moduleId"] for _ in range(2)}
        assert received == {a, b}
        received = {(await everything.next())["moduleId"] for _ in range(2)}
        assert received == {a, b}

        # unsubscribing from a leaves b; unsubscribing from the last module means everything
        await a_and_b.sio.call("unsubscribe", [a], timeout=WAIT)
        publisher.publish(f"{a}/co2", "501")
        publisher.publish(f"{b}/co2", "601")
        assert (await only_a.next())["value"] == 501
        # 601 reached a_and_b, so it was fanned out (and skipped for only_a) before the change
        assert (await a_and_b.next())["value"] == 601
        await only_a.sio.call("unsubscribe", [a], timeout=WAIT)
        publisher.publish(f"{b}/co2", "602")
        assert (await only_a.next())["value"] == 602
        assert (await a_and_b.next())["value"] == 602
        assert [(await everything.next())["value"] for _ in range(3)] == [501, 601, 602]
        assert only_a.events.empty() and a_and_b.events.empty() and everything.events.empty()


async def test_config_update_is_emitted(app: RunningApp, module_id: str) -> None:
    async with live_client(app, transports=["websocket"]) as client:
        await client.subscribe(module_id)
        assert app.runtime.socketio is not None
        config = {"sensors": {"co2": {"interval": 30}}}
        app.runtime.socketio.publish_config_update(module_id, config)
        event = await client.next("config-update")
        assert event == {"moduleId": module_id, "config": config}


async def test_client_count_in_metrics(app: RunningApp) -> None:
    async def clients() -> float:
        text = (await app.http.get("/metrics")).text
        return metric_total(text, "sensorhub_socketio_clients")

    async with live_client(app), live_client(app, transports=["websocket"]):
        await wait_until(lambda: _equals(clients(), 2), what="2 clients in /metrics")
    await wait_until(lambda: _equals(clients(), 0), what="0 clients in /metrics")


async def _equals(value: Any, expected: float) -> bool:
    return bool(await value == expected)


async def test_stalled_client_does_not_stall_ingestion(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    """A client that stops reading is dropped; other clients and the database keep up.

    2 KB log lines fill the stalled connection's socket buffers (a few MB) quickly; after that
    its backlog grows in sensorhub until the limit, and it is dropped.
    """
    plugin = app.runtime.socketio
    assert plugin is not None
    plugin.manager.max_backlog = 1000
    plugin.manager.stall_grace = 0.5  # the loop below may publish its 20,000 within 2 s

    def dropped() -> float:
        value = app.runtime.metrics.registry.get_sample_value(
            "sensorhub_socketio_clients_dropped_total"
        )
        return value or 0.0

    filler = "".join(random.choices(string.ascii_letters, k=1990))
    async with (
        stalled_client(app),
        live_client(app, transports=["websocket"]) as reader,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        await wait_until(lambda: plugin.clients == 2, what="both clients connected")
        sent = 0
        while dropped() == 0:
            assert sent < 20_000, "the stalled client was never dropped"
            batch = range(sent, sent + 250)
            for i in batch:
                publisher.publish(f"{module_id}/logs", f"{i:06d} {filler}")
            sent += len(batch)
            # the reader keeps up (its backlog stays under the limit); the stalled one does not
            received = [(await reader.next())["metadata"]["msg"][:6] for _ in batch]
            assert received == [f"{i:06d}" for i in batch]
        await publisher.drain()
        await wait_until(lambda: plugin.clients == 1, what="the stalled client gone")
        sql = "SELECT count(*) FROM device_logs WHERE module_id = $1"
        url = app.settings.database_url
        assert url is not None
        await wait_until(
            lambda: _equals(db_count(url, sql, module_id), sent), what=f"{sent} rows stored"
        )


@contextlib.asynccontextmanager
async def stalled_client(running: RunningApp) -> AsyncIterator[ClientConnection]:
    """A raw Socket.IO-over-WebSocket client that joins, then never reads again."""
    parts = urlsplit(running.base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
    # no compression: repetitive events would shrink to a few bytes and take long to fill buffers
    async with connect(url, sock=sock, max_queue=1, ping_interval=None, compression=None) as ws:
        opened = await asyncio.wait_for(ws.recv(), WAIT)
        assert str(opened).startswith("0")
        await ws.send('40{"events":["mqtt-message"]}')
        joined = await asyncio.wait_for(ws.recv(), WAIT)
        assert str(joined).startswith("40")
        ws.transport.pause_reading()
        yield ws


def _redis_url() -> str | None:
    url = os.environ.get("SENSORHUB_TEST_REDIS_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        return None


REDIS_URL = _redis_url()


@pytest.mark.skipif(
    REDIS_URL is None, reason="no Redis: set SENSORHUB_TEST_REDIS_URL or run one on :6379"
)
async def test_redis_shares_clients_between_instances(
    database_url: str, broker_url: str, tmp_path: Path, module_id: str
) -> None:
    assert REDIS_URL is not None
    common = {"DATABASE_URL": database_url, "MQTT_URL": broker_url, "REDIS_URL": REDIS_URL}
    tag = uuid.uuid4().hex[:8]
    async with (
        running_app(
            **common,
            DATA_DIR=str(tmp_path / "one"),
            MQTT_TOPICS=f"nothing-{tag}/#",
            MQTT_CLIENT_ID=f"sh1-{tag}",
        ) as one,
        running_app(
            **common,
            DATA_DIR=str(tmp_path / "two"),
            MQTT_TOPICS=f"{module_id}/#",
            MQTT_CLIENT_ID=f"sh2-{tag}",
        ) as two,
        live_client(one, transports=["websocket"]) as client,
        live_client(one, auth={"batch": True, "modules": [module_id]}) as batched,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        await client.subscribe(module_id)  # other tests may share this Redis channel
        publisher.publish(f"{module_id}/humidity", "55")
        event = await client.next()
        assert (event["moduleId"], event["value"]) == (module_id, 55.0)
        [batched_event] = await batched.next("mqtt:batch")  # coalesced on the receiving instance
        assert batched_event == event
        assert one.runtime.socketio is not None and two.runtime.socketio is not None
        two.runtime.socketio.publish_config_update(module_id, {"sensors": {}})
        assert await client.next("config-update") == {
            "moduleId": module_id,
            "config": {"sensors": {}},
        }
