"""PUBACKs go out once per batch, only when it is durable, only on the connection it came in on;
reading stops at the bound of unacknowledged deliveries. (The gmqtt internals are faked here; the
real-broker guard is tests/faults/test_transport_guard.py.)"""

import asyncio
import struct
from typing import Any

from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from sensorhub.ingest.delivery import Delivery, Publish
from sensorhub.plugins.gmqtt_adapter import InflightWindow, LateAcks


class Protocol:
    def __init__(self, version: int) -> None:
        self.proto_ver = version
        self.writes: list[bytes] = []

    def write_data(self, data: bytes) -> None:
        self.writes.append(data)


class Transport:
    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class Connection:
    def __init__(self, version: int = MQTTv50) -> None:
        self._protocol = Protocol(version)
        self._transport = Transport()
        self._handler = type("Handler", (), {"current_connection": self})()
        self.closing = False
        self.packages: list[Any] = []

    def put_package(self, package: Any) -> None:
        self.packages.append(package)

    def is_closing(self) -> bool:
        return self.closing


class Client:
    """Only the parts of a gmqtt client that LateAcks uses."""

    def __init__(self) -> None:
        self._package_handler = type("Handler", (), {})()
        self._connection = Connection()
        self.on_message: Any = None

    async def _create_connection(self) -> Connection:
        return self._connection


def acked_ids(data: bytes, version: int = MQTTv50) -> list[int]:
    size = 6 if version == MQTTv50 else 4
    return [struct.unpack("!H", data[i + 2 : i + 4])[0] for i in range(0, len(data), size)]


def deliver(client: Client, mid: int, payload: bytes = b"21.5", **flags: int) -> None:
    client._package_handler._handle_qos_1_publish_packet(mid, payload, "m/temperature", flags)


async def test_one_write_per_durable_batch() -> None:
    batch = asyncio.get_running_loop().create_future()
    client = Client()
    LateAcks(client, lambda delivery: batch, max_unacknowledged=100)
    for mid in (1, 2, 3):
        deliver(client, mid)
    assert client._connection._protocol.writes == [], "nothing acknowledged before it is durable"
    batch.set_result(None)
    await asyncio.sleep(0)
    writes = client._connection._protocol.writes
    assert len(writes) == 1 and acked_ids(writes[0]) == [1, 2, 3]


async def test_rejected_messages_are_acknowledged_at_once_over_mqtt_311() -> None:
    client = Client()
    client._connection = Connection(MQTTv311)
    LateAcks(client, lambda delivery: None, max_unacknowledged=100)
    deliver(client, 7, b"junk")
    assert [acked_ids(w, MQTTv311) for w in client._connection._protocol.writes] == [[7]]


async def test_no_acknowledgement_after_a_reconnect_or_a_failed_batch() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    batches: list[Any] = [first, second]
    client = Client()
    LateAcks(client, lambda delivery: batches.pop(0), max_unacknowledged=100)
    old = client._connection
    deliver(client, 1)
    client._connection = Connection()  # reconnected: the broker will deliver mid 1 again
    deliver(client, 2)
    first.set_result(None)
    second.set_exception(RuntimeError("not durable"))
    await asyncio.sleep(0)
    assert old._protocol.writes == []
    assert client._connection._protocol.writes == []
    second.exception()  # retrieved


async def test_flags_and_packet_id_reach_the_pipeline_for_both_qos() -> None:
    seen: list[Delivery] = []

    def accept(delivery: Delivery) -> None:
        seen.append(delivery)

    client = Client()
    LateAcks(client, accept, max_unacknowledged=100)
    deliver(client, 9, dup=1, retain=0)
    client.on_message(client, "m/t", b"1", 0, {"dup": 0, "retain": 1})
    assert [(d.qos, d.dup, d.retain, d.packet_id) for d in seen] == [
        (1, True, False, 9),
        (0, False, True, None),
    ]


async def test_reading_stops_at_the_bound_and_resumes_below_it() -> None:
    batch = asyncio.get_running_loop().create_future()
    client = Client()
    acks = LateAcks(client, lambda delivery: batch, max_unacknowledged=3)
    transport = client._connection._transport
    deliver(client, 1)
    deliver(client, 2)
    assert transport.reading
    deliver(client, 3)
    assert not transport.reading and acks.held == 3
    batch.set_result(None)
    await acks.wait_acknowledged()
    assert transport.reading and acks.held == 0


async def test_a_publisher_waits_for_room_in_the_window() -> None:
    window = InflightWindow()
    window.push_message(1, b"p1")
    window.push_message(2, b"p2")
    waiter = asyncio.create_task(window.wait_room(2))
    await asyncio.sleep(0)
    assert not waiter.done()
    window.remove_message_by_mid(1)
    await asyncio.wait_for(waiter, 1)
    assert window.inflight == 1


def publish_packet(mid: int, topic: bytes = b"m/temperature", payload: bytes = b"21.5") -> bytes:
    """A QoS 1 PUBLISH as MQTT 5 sends it (property length 0)."""
    body = len(topic).to_bytes(2, "big") + topic + mid.to_bytes(2, "big") + b"\x00" + payload
    return bytes([0x32, len(body)]) + body


class Reads:
    """`accept_many` for the socket reads that `LateAcks` splits itself."""

    def __init__(self) -> None:
        self.batch = asyncio.get_running_loop().create_future()
        self.reads: list[list[Publish]] = []

    def accept_many(self, publishes: list[Publish]) -> list[tuple[Any, list[int]]]:
        self.reads.append(list(publishes))
        return [(self.batch, [p[3] for p in publishes if p[3] is not None])]


async def test_a_read_is_split_as_it_arrives_and_a_partial_packet_waits() -> None:
    reads = Reads()
    client = Client()
    LateAcks(client, lambda d: None, max_unacknowledged=100, accept_many=reads.accept_many)
    connection = await client._create_connection()
    first, second = publish_packet(1), publish_packet(2, payload=b"22")
    connection._protocol.data_received(first + second[:5])
    connection._protocol.data_received(second[5:] + b"\xd0\x00")  # and a PINGRESP
    assert [[(p[1], p[3]) for p in read] for read in reads.reads] == [[(b"21.5", 1)], [(b"22", 2)]]
    assert [(p.cmd, p.data) for p in connection.packages] == [(0xD0, b"")]


async def test_a_read_that_reaches_the_bound_stops_reading_until_the_batch_is_durable() -> None:
    reads = Reads()
    client = Client()
    acks = LateAcks(client, lambda d: None, max_unacknowledged=2, accept_many=reads.accept_many)
    connection = await client._create_connection()
    connection._protocol.data_received(publish_packet(1) + publish_packet(2))
    assert not connection._transport.reading and acks.held == 2
    assert connection._protocol.writes == [], "nothing acknowledged before it is durable"
    reads.batch.set_result(None)
    await acks.wait_acknowledged()
    assert connection._transport.reading and acks.held == 0
    assert [acked_ids(w) for w in connection._protocol.writes] == [[1, 2]]
