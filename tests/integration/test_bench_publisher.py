"""The ingest benchmarks' generator counts exactly the PUBLISHes the broker acknowledged."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv50

from bench.publisher import SENSORS, publish_async
from sensorhub.broker_url import BrokerAddress
from tests.support import wait_until


async def test_every_acknowledged_publish_reaches_a_subscriber_once(broker_url: str) -> None:
    prefix = f"pub{uuid.uuid4().hex[:8]}"
    modules, rate, seconds = 3, 4_000.0, 1.0
    received: list[tuple[str, bytes]] = []

    def on_message(client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        received.append((topic, payload))
        return 0

    subscribed = asyncio.get_running_loop().create_future()
    subscriber = Client(f"{prefix}-sub")
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_: subscribed.done() or subscribed.set_result(None)
    broker = BrokerAddress.parse(broker_url)
    await subscriber.connect(broker.host, broker.port, version=MQTTv50)
    try:
        subscriber.subscribe(
            [Subscription(f"{prefix}-{n:03d}/#", qos=1) for n in range(1, modules + 1)]
        )
        await asyncio.wait_for(subscribed, 10)
        stats = await publish_async(
            broker_url, prefix, rate, seconds, connections=2, modules=modules
        )
        assert stats.published == round(rate * seconds)
        assert stats.sent == stats.published and stats.unexpected == 0
        await wait_until(
            lambda: len(received) >= stats.sent, what=f"{stats.sent} messages received"
        )
    finally:
        await subscriber.disconnect()
    assert len(received) == stats.sent
    topics = {topic for topic, _ in received}
    assert len(topics) == modules * SENSORS
    assert all(float(payload) > 0 for _, payload in received)
