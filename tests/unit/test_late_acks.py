"""PUBACKs go out once per batch, only when it is durable, only on the connection it came in on."""

import asyncio
import struct
from typing import Any

from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from sensorhub.plugins.late_acks import LateAcks


class Protocol:
    def __init__(self, version: int) -> None:
        self.proto_ver = version
        self.writes: list[bytes] = []

    def write_data(self, data: bytes) -> None:
        self.writes.append(data)


class Connection:
    def __init__(self, version: int = MQTTv50) -> None:
        self._protocol = Protocol(version)
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing


class Client:
    """Only the two attributes of a gmqtt client that LateAcks uses."""

    def __init__(self) -> None:
        self._package_handler = type("Handler", (), {})()
        self._connection = Connection()


def acked_ids(data: bytes, version: int = MQTTv50) -> list[int]:
    size = 6 if version == MQTTv50 else 4
    return [struct.unpack("!H", data[i + 2 : i + 4])[0] for i in range(0, len(data), size)]


async def test_one_write_per_durable_batch() -> None:
    loop = asyncio.get_running_loop()
    batch = loop.create_future()
    client = Client()
    LateAcks(client, lambda topic, payload, qos: batch)
    deliver = client._package_handler._handle_qos_1_publish_packet
    for mid in (1, 2, 3):
        deliver(mid, b"21.5", "m/temperature", {})
    assert client._connection._protocol.writes == [], "nothing acknowledged before it is durable"
    batch.set_result(None)
    await asyncio.sleep(0)
    writes = client._connection._protocol.writes
    assert len(writes) == 1 and acked_ids(writes[0]) == [1, 2, 3]


async def test_rejected_messages_are_acknowledged_at_once_over_mqtt_311() -> None:
    client = Client()
    client._connection = Connection(MQTTv311)
    LateAcks(client, lambda topic, payload, qos: None)
    client._package_handler._handle_qos_1_publish_packet(7, b"junk", "m/temperature", {})
    assert [acked_ids(w, MQTTv311) for w in client._connection._protocol.writes] == [[7]]


async def test_no_acknowledgement_after_a_reconnect_or_a_failed_batch() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    batches: list[Any] = [first, second]
    client = Client()
    LateAcks(client, lambda topic, payload, qos: batches.pop(0))
    old = client._connection
    client._package_handler._handle_qos_1_publish_packet(1, b"1", "m/t", {})
    client._connection = Connection()  # reconnected: the broker will deliver mid 1 again
    client._package_handler._handle_qos_1_publish_packet(2, b"2", "m/t", {})
    first.set_result(None)
    second.set_exception(RuntimeError("not durable"))
    await asyncio.sleep(0)
    assert old._protocol.writes == []
    assert client._connection._protocol.writes == []
    second.exception()  # retrieved
