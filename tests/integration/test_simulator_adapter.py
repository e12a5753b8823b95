"""The simulator's gmqtt adapter against the real broker: it fails if a gmqtt upgrade breaks it.

`sensorhub.simulate.gmqtt_adapter` leans on gmqtt internals (the `persistent_storage` protocol and
the transport held by `Client._connection`). Each test here proves one of them still works: the
window sees every QoS 1 publish and its PUBACK, and the packets of one event-loop step leave in
one socket write, all of them reaching a subscriber.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv311

from sensorhub.broker_url import BrokerAddress
from sensorhub.simulate.gmqtt_adapter import CoalescingTransport, coalesce_writes
from sensorhub.simulate.link import Link
from sensorhub.simulate.module import Outgoing
from sensorhub.simulate.options import Kind

COUNT = 200
WAIT = 15.0


async def _subscriber(broker: BrokerAddress, topic: str) -> tuple[Any, asyncio.Queue[bytes]]:
    received: asyncio.Queue[bytes] = asyncio.Queue()
    subscribed = asyncio.Event()
    client = Client(f"adapter-sub-{uuid.uuid4().hex[:10]}")

    def on_message(_client: Any, _topic: str, payload: bytes, _qos: int, _props: Any) -> int:
        received.put_nowait(payload)
        return 0

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    await client.connect(broker.host, broker.port, version=MQTTv311)
    client.subscribe([Subscription(topic, qos=1)])
    await asyncio.wait_for(subscribed.wait(), WAIT)
    return client, received


async def test_window_counts_every_puback_and_writes_coalesce(broker_url: str) -> None:
    broker = BrokerAddress.parse(broker_url)
    topic = f"adapter-{uuid.uuid4().hex[:10]}/temperature"
    subscriber, received = await _subscriber(broker, topic)
    link = Link(f"adapter-pub-{uuid.uuid4().hex[:10]}", broker, 1, COUNT + 1, lambda *_: None)
    try:
        await link.connect()
        before = link.socket_writes
        for n in range(COUNT):  # one event-loop step: no await between the publishes
            link.publish(Kind.MEASUREMENT, Outgoing(topic, str(n).encode()))
        assert link.in_flight == COUNT, "gmqtt no longer calls persistent_storage.push_message"
        await link.drain(WAIT)
        assert link.in_flight == 0, "gmqtt no longer calls remove_message_by_mid on PUBACK"
        assert link.delivered(Kind.MEASUREMENT) == COUNT
        writes = link.socket_writes - before
        assert 0 < writes < COUNT, f"{writes} socket writes for {COUNT} packets: not coalesced"
        payloads = [await asyncio.wait_for(received.get(), WAIT) for _ in range(COUNT)]
        assert sorted(int(p) for p in payloads) == list(range(COUNT))
    finally:
        await link.close()
        await subscriber.disconnect()


async def test_coalesce_writes_finds_the_transport_of_a_connected_client(broker_url: str) -> None:
    broker = BrokerAddress.parse(broker_url)
    client = Client(f"adapter-raw-{uuid.uuid4().hex[:10]}")
    assert coalesce_writes(client) is None  # not connected: nothing to wrap
    await client.connect(broker.host, broker.port, version=MQTTv311)
    try:
        wrapper = coalesce_writes(client)
        assert isinstance(wrapper, CoalescingTransport), "gmqtt's _connection layout changed"
        assert coalesce_writes(client) is wrapper  # idempotent
    finally:
        await client.disconnect()
