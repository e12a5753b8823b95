"""The adapter's own socket reads and PUBLISH parsing (plugins/gmqtt_adapter.py, private use 4)
against a real broker: every delivery arrives once, byte for byte, with its flags, whether the
adapter or gmqtt parsed it, and reads are split by the adapter again after a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from sensorhub.broker_url import BrokerAddress
from sensorhub.config import Settings
from sensorhub.ingest.delivery import Delivery
from sensorhub.plugins.gmqtt_adapter import InflightWindow
from sensorhub.plugins.mqtt import MqttPlugin
from tests.support import EMBEDDED_BROKER_URLS, forget_session, wait_until


class Collector:
    """An `accept` that records deliveries; each QoS 1 one becomes durable on the next turn of
    the event loop (the broker queues only so many unacknowledged messages)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def accept(self, delivery: Delivery) -> asyncio.Future[None] | None:
        self.deliveries.append(delivery)
        if not delivery.qos:
            return None
        durable = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(durable.set_result, None)
        return durable


@pytest.fixture(params=[MQTTv50, MQTTv311], ids=["mqtt5", "mqtt311"])
def version(request: pytest.FixtureRequest, broker_url: str) -> int:
    if request.param == MQTTv50 and broker_url in EMBEDDED_BROKER_URLS:
        pytest.skip("the embedded broker speaks MQTT 3.1.1 only")
    return int(request.param)


PUBLISH_WINDOW = 10
"""QoS 1 publishes in flight at a time (below Mosquitto's default Receive Maximum, 20)."""


async def connected_publisher(broker_url: str, version: int) -> tuple[Client, InflightWindow]:
    address = BrokerAddress.parse(broker_url)
    window = InflightWindow()
    client = Client(f"fast-pub-{uuid.uuid4().hex[:8]}", persistent_storage=window)
    await client.connect(address.host, address.port, version=version)
    return client, window


@contextlib.asynccontextmanager
async def receiving(
    broker_url: str, prefix: str, version: int, collector: Collector
) -> AsyncIterator[MqttPlugin]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, mqtt_client_id=f"fast-{uuid.uuid4().hex[:8]}", mqtt_topics=[f"{prefix}/#"]
    )
    plugin = MqttPlugin(settings, broker_url, collector.accept, mqtt5=version == MQTTv50)
    try:
        async with plugin:
            await plugin.wait_connected(10)
            yield plugin
    finally:
        await forget_session(broker_url, settings.mqtt_client_id)


async def test_every_form_of_publish_arrives_once_with_its_flags(
    broker_url: str, version: int
) -> None:
    prefix = f"fast-{uuid.uuid4().hex[:8]}"
    publisher, window = await connected_publisher(broker_url, version)
    publisher.publish(f"{prefix}/kept/state", b"retained", qos=1, retain=True)
    collector = Collector()
    expected: list[tuple[str, bytes, int, bool]] = [(f"{prefix}/kept/state", b"retained", 1, True)]
    try:
        async with receiving(broker_url, prefix, version, collector) as plugin:
            await wait_until(lambda: len(collector.deliveries) == 1, what="the retained message")
            forms: list[tuple[str, bytes, int, dict[str, object]]] = [
                (f"{prefix}/m1/temperature", b"21.5", 1, {}),
                (f"{prefix}/m1/humidity", b"40", 0, {}),
                (f"{prefix}/m1/big", bytes(range(256)) * 80, 1, {}),  # 3-byte remaining length
                (f"{prefix}/m1/ünïcode", "wärme".encode(), 1, {}),
                (f"{prefix}/m1/empty", b"", 1, {}),
            ]
            if version == MQTTv50:
                forms.append((f"{prefix}/m1/props", b"7", 1, {"user_property": [("k", "v")]}))
            for n in range(2_000):  # many packets per read, split across reads
                forms.append((f"{prefix}/m{n % 7}/s{n % 3}/t", b"x" * (n % 300), n % 2, {}))
            for topic, payload, qos, properties in forms:
                await window.wait_room(PUBLISH_WINDOW)
                publisher.publish(topic, payload, qos=qos, **properties)
                expected.append((topic, payload, qos, False))
            await wait_until(
                lambda: len(collector.deliveries) >= len(expected), what="every delivery"
            )
            received = [(d.topic, d.payload, d.qos, d.retain) for d in collector.deliveries]
            for qos in (0, 1):  # a broker keeps the order within a QoS level only
                assert [r for r in received if r[2] == qos] == [
                    e for e in expected if e[2] == qos
                ], "in order, once each, byte for byte"
            assert all((d.packet_id is None) == (d.qos == 0) for d in collector.deliveries)
            assert not any(d.dup for d in collector.deliveries)
            assert plugin.acks.parsed_here >= 2_000, "the adapter parsed the stream itself"
            await asyncio.wait_for(plugin.acks.wait_acknowledged(), 10)
            assert plugin.acks.held == 0
    finally:
        publisher.publish(f"{prefix}/kept/state", b"", qos=1, retain=True)
        await publisher.disconnect()


async def test_reads_are_split_here_again_after_a_reconnect(broker_url: str, version: int) -> None:
    prefix = f"fast-{uuid.uuid4().hex[:8]}"
    publisher, window = await connected_publisher(broker_url, version)
    collector = Collector()
    try:
        async with receiving(broker_url, prefix, version, collector) as plugin:
            old = plugin._client._connection
            old._transport.abort()  # the socket drops: gmqtt reconnects on a new connection
            await wait_until(
                lambda: plugin.connected and plugin._client._connection is not old,
                timeout=30,
                what="reconnected",
            )
            before = plugin.acks.parsed_here
            for n in range(200):
                await window.wait_room(PUBLISH_WINDOW)
                publisher.publish(f"{prefix}/m{n % 7}/t", str(n).encode(), qos=1)
            await wait_until(lambda: len(collector.deliveries) >= 200, what="every delivery")
            assert [d.payload for d in collector.deliveries] == [
                str(n).encode() for n in range(200)
            ]
            assert plugin.acks.parsed_here - before == 200, "the new connection is read here too"
            await asyncio.wait_for(plugin.acks.wait_acknowledged(), 10)
    finally:
        await publisher.disconnect()
