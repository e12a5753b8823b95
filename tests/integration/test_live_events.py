"""The live-event contract (docs/live-events.md) with real Socket.IO clients, broker and database.

Events on one connection arrive in the order they were sent, so "nothing else came" is proven by
the next awaited event being the expected one, never by waiting for silence.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import socketio

from sensorhub.plugins.embedded import free_port
from tests.integration.live_clients import live_client, refusal, serve_on
from tests.support import Publisher, RunningApp, running_app, wait_until


def _env(database_url: str, broker_url: str, data_dir: Path, module_id: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "DATA_DIR": str(data_dir),
        "MQTT_TOPICS": f"{module_id}/#",
        "MQTT_CLIENT_ID": f"sh-{module_id}"[:64],
        "BUFFER_MAX_AGE": "0.2",
    }


async def test_default_client_gets_the_node_backends_mqtt_data_only(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    """A client that names nothing (the seed's Nuxt dashboard) gets `mqtt:data`, one per message."""
    m = module_id
    nested = {"moduleId": m, "moduleType": "air", "sensors": {"co2": {"status": "ok", "value": 1}}}
    flat = {"dht22:temperature": {"status": "ok", "value": 21.5}}
    documents: list[tuple[str, Any]] = [
        (f"{m}/system", {"rssi": -60, "memory": {"heapFreeKb": 120}}),
        (f"{m}/system/config", {"ip": "10.0.0.7", "mac": "aa:bb", "flash": {"usedKb": 1}}),
        (f"{m}/sensors/status", nested),
        (f"{m}/sensors/status", flat),
        (f"{m}/sensors/config", {"sensors": {"co2": {"interval": 30}}}),
        (f"{m}/hardware/config", {"chip": {"model": "ESP32-S3", "cpuFreqMhz": 240}}),
    ]
    async with live_client(app, auth={}) as client, Publisher(broker_url, f"p-{m}") as publisher:
        publisher.publish(f"{m}/dht22/temperature", "21.5")
        event = await client.next("mqtt:data")
        assert set(event) == {"topic", "value", "time", "metadata"}
        assert event["topic"] == f"{m}/dht22/temperature"
        assert (event["value"], event["metadata"]) == (21.5, None)
        assert event["time"].endswith("Z")

        for topic, document in documents:
            publisher.publish(topic, json.dumps(document))
        for topic, document in documents:
            event = await client.next("mqtt:data")
            assert (event["topic"], event["value"]) == (topic, None)
            expected = document["sensors"] if document is nested else document
            assert event["metadata"] == expected

        publisher.publish(f"{m}/logs", json.dumps({"level": "info", "msg": "booted"}))
        publisher.publish(f"{m}/co2", "612")  # the module's 2-level legacy topic
        event = await client.next("mqtt:data")  # the log line had no mqtt:data
        assert (event["topic"], event["value"]) == (f"{m}/co2", 612.0)


async def test_client_naming_both_events_gets_each_once(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    auth = {"events": ["mqtt:data", "mqtt-message"]}
    async with (
        live_client(app, auth=auth) as both,
        live_client(app, auth={"events": ["mqtt-message"]}) as sensorhub_only,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        publisher.publish(f"{module_id}/humidity", "40")
        publisher.publish(f"{module_id}/humidity", "41")
        for value in (40.0, 41.0):
            assert (await both.next("mqtt:data"))["value"] == value
            assert (await both.next("mqtt-message"))["value"] == value
            assert (await sensorhub_only.next("mqtt-message"))["value"] == value


async def test_batched_client_gets_lists_of_mqtt_messages_in_order(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    async with (
        live_client(app, auth={"batch": True}) as batched,
        live_client(app, auth={"batch": True, "modules": [module_id]}) as following,
        live_client(app, auth={"events": ["mqtt-message"]}) as single,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        for n in range(200):
            publisher.publish(f"{module_id}/seq", str(n))
        for n in range(200):
            assert (await single.next("mqtt-message"))["value"] == n
        for client in (batched, following):
            values: list[float] = []
            while len(values) < 200:
                batch = await client.next("mqtt:batch")  # never a per-message event
                assert isinstance(batch, list) and batch
                assert {e["kind"] for e in batch} == {"measurement"}
                assert set(batch[0]) == {"topic", "moduleId", "kind", "value", "metadata", "time"}
                values += [e["value"] for e in batch]
            assert values == list(range(200))


async def test_auth_modules_restore_the_subscription_after_a_server_restart(
    database_url: str, broker_url: str, data_dir: Path, module_id: str
) -> None:
    """The client reconnects on its own to a new server; its `auth.modules` still apply."""
    a, b = module_id, f"{module_id}-b"
    env = _env(database_url, broker_url, data_dir, module_id) | {"MQTT_TOPICS": f"{a}/#,{b}/#"}
    port = free_port()
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.1)
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on("mqtt-message", received.put_nowait)
    auth = {"events": ["mqtt-message"], "modules": [a]}
    async with serve_on(port, **env) as first:
        await client.connect(first.base_url, transports=["websocket"], auth=auth, wait_timeout=15)
    try:
        async with serve_on(port, **env) as second, Publisher(broker_url, f"p-{a}") as publisher:
            plugin = second.runtime.socketio
            assert plugin is not None
            await wait_until(lambda: plugin.clients == 1, timeout=30, what="the client is back")
            publisher.publish(f"{b}/co2", "600")  # not followed: never arrives
            publisher.publish(f"{a}/co2", "500")
            event = await asyncio.wait_for(received.get(), 15)
            assert (event["moduleId"], event["value"]) == (a, 500.0)
    finally:
        await client.disconnect()


@pytest.mark.parametrize("transports", [["websocket"], None])
async def test_tokens_guard_the_connect(
    database_url: str,
    broker_url: str,
    data_dir: Path,
    module_id: str,
    transports: list[str] | None,
) -> None:
    env = _env(database_url, broker_url, data_dir, module_id)
    env |= {"SENSORHUB_READ_TOKEN": "read-secret", "SENSORHUB_API_TOKEN": "write-secret"}
    async with running_app(**env) as running:
        for auth in ({}, {"token": "wrong"}, {"token": ""}):
            refused = await refusal(running, transports=transports, auth=auth)
            assert "unauthorized" in refused["message"]
        for token in ("read-secret", "write-secret"):
            auth = {"token": token, "events": ["mqtt-message"]}
            async with (
                live_client(running, transports=transports, auth=auth) as client,
                Publisher(broker_url, f"p-{module_id}") as publisher,
            ):
                publisher.publish(f"{module_id}/co2", "700")
                assert (await client.next())["value"] == 700


async def test_bad_auth_is_refused_with_a_reason(app: RunningApp) -> None:
    for auth, reason in (
        ({"events": ["mqtt:everything"]}, "unknown events"),
        ({"modules": [1]}, "auth.modules"),
        ({"batch": "yes"}, "auth.batch"),
    ):
        refused = await refusal(app, transports=["websocket"], auth=auth)
        assert reason in refused["message"]


async def test_foreign_origin_is_refused_same_origin_and_listed_are_not(
    database_url: str, broker_url: str, data_dir: Path, module_id: str
) -> None:
    env = _env(database_url, broker_url, data_dir, module_id)
    async with running_app(**env, CORS_ORIGINS="http://dashboard.example") as running:

        async def polling_open(origin: str) -> int:
            response = await running.http.get(
                "/socket.io/",
                params={"EIO": "4", "transport": "polling"},
                headers={"Origin": origin},
            )
            return response.status_code

        for origin in ("http://evil.example", "null", "http://dashboard.example.evil"):
            headers = {"Origin": origin}
            assert await refusal(running, transports=["websocket"], headers=headers) is not None
            assert await polling_open(origin) == 400
        for origin in (running.base_url, "http://dashboard.example"):
            assert await polling_open(origin) == 200
            async with live_client(running, headers={"Origin": origin}):  # polling, then upgrade
                pass


async def test_same_origin_only_by_default(app: RunningApp) -> None:
    assert app.settings.cors_origins == []
    assert await refusal(app, headers={"Origin": "http://evil.example"}) is not None
    async with live_client(app, headers={"Origin": app.base_url}):
        pass


async def test_event_loop_lag_is_in_the_metrics(app: RunningApp) -> None:
    async def samples() -> bool:
        text = (await app.http.get("/metrics")).text
        counts = [
            float(line.split()[1])
            for line in text.splitlines()
            if line.startswith("sensorhub_event_loop_lag_seconds_count ")
        ]
        return bool(counts) and counts[0] >= 2 and "sensorhub_event_loop_lag_max_seconds" in text

    await wait_until(samples, what="event-loop lag samples in /metrics")
