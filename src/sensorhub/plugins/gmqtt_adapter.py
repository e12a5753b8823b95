"""The one module that reaches into gmqtt's internals: late, batched PUBACKs, TCP backpressure and
PUBLISH parsing.

Why gmqtt, and why private parts of it: CPU time of the receiving process per QoS 1 message
from `mosquitto_pub`, batches made durable every 500 messages or 5 ms, min/median/max of 3 runs
(docs/architecture.md has the command):

- gmqtt 0.8 with this adapter (one write of all PUBACKs of a durable batch):
  4.5 / 4.6 / 4.9 µs (50,000 messages);
- gmqtt 0.8's public late acknowledgement (`optimistic_acknowledgement=False`: a task and a write
  per message): 18.7 / 18.8 / 19.2 µs (2,000 messages);
- paho-mqtt 2.1's public manual acknowledgement (`manual_ack_set(True)` + `ack()`, its socket
  driven from asyncio): 30.7 µs (2,000 messages).

The two public variants fell so far behind at 50,000 messages that the broker dropped messages
beyond its queue limit.

The private uses, all here; 1-3 are guarded by `tests/faults/test_transport_guard.py`
against the real broker (it fails if a PUBACK leaves before its batch is committed, if a
redelivery loses the DUP flag, or if reading does not stop at the bound):

1. `client._package_handler._handle_qos_1_publish_packet` is replaced (gmqtt 0.8 signature
   `(mid, payload, topic, properties)`), so that each QoS 1 delivery is accepted synchronously.
2. `client._connection` tells which connection a delivery came in on; a PUBACK goes out only on
   that connection, through `connection._protocol.write_data` (one write per durable batch).
3. `connection._transport.pause_reading()` / `resume_reading()` stop reading the socket while
   `max_unacknowledged` deliveries wait for their batch. Mosquitto 2.0 stops honouring the
   client's Receive Maximum after the first PUBACK, so this, not the broker, bounds memory. The
   bound is exceeded by at most one socket read (up to 256 KiB) of packets. A socket that is not
   read does not notice that the broker went away, so while paused the adapter writes a PINGREQ
   every `PROBE_INTERVAL` seconds (`connection._protocol.send_ping_request()`): the write to a
   closed peer fails and gmqtt reconnects as usual.

4. `client._create_connection` (gmqtt 0.8: `await`ed by `connect` and `reconnect`, returns the
   new `MQTTConnection` before CONNECT is sent, so before the broker sends anything) is wrapped
   to replace the new connection's `connection._protocol.data_received` (gmqtt 0.8: an asyncio
   `StreamReaderProtocol` feeding a StreamReader that gmqtt's `_read_loop` task drains into
   `_read_packet`) with `_Reads.data_received`: each socket read is split right there by
   `plugins/mqtt_packets.py::split_packets`, with what was left of the last read. A PUBLISH at
   QoS 0 or 1 without MQTT 5 properties (what Mosquitto sends sensorhub) becomes a `Publish`
   tuple, and the read's tuples go to `accept_many` together (the pipeline's fast path stores
   plain readings without a per-message object); every other packet goes to
   `connection.put_package`, as gmqtt's loop does, after the tuples collected before it (gmqtt
   delivers at once: the order is kept); a superseded connection's reads are dropped (as
   `put_package` does); a malformed stream closes the transport (gmqtt reconnects). gmqtt's read
   loop is left waiting on its empty StreamReader until the connection is lost (`feed_eof`).
   gmqtt's per-packet path (a `Package`, the handler's dispatch, `struct` formats built per
   message, a properties dict, a debug log call) cost about 10 µs per message at 5,000 msg/s,
   as much as the pipeline; the StreamReader hand-off (feed it, wake the read-loop task, one
   more loop turn per read) about a fifth of sensorhub's CPU when live reads carry few packets.
   `tests/integration/test_fast_receive.py` guards it against the real broker (every form of
   PUBLISH arrives once, byte for byte, with its flags, and most were parsed here, also after a
   reconnect).

Public gmqtt API used: `on_message` (QoS 0 deliveries, `properties["dup"]` / `["retain"]`),
and the `persistent_storage`
constructor parameter (`InflightWindow`: outbound QoS 1 publishes waiting for their PUBACK).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any

from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.package import Package
from gmqtt.storage import PersistentStorage

from sensorhub.ingest.delivery import Accept, AcceptMany, Delivery, Publish, accept_each
from sensorhub.plugins.mqtt_packets import split_packets
from sensorhub.plugins.pubacks import pubacks
from sensorhub.plugins.quickack import quick_ack

logger = logging.getLogger(__name__)

PROBE_INTERVAL = 1.0
"""Seconds between PINGREQs while reading is paused (to notice a broker that went away)."""
PUBLISH = 0x30


class LateAcks:
    """Takes over a gmqtt client's deliveries: `accept_many` takes the PUBLISH packets of each
    socket read parsed here, `accept` the few that gmqtt parsed (QoS 0 and QoS 1)."""

    def __init__(
        self,
        client: Any,
        accept: Accept,
        *,
        max_unacknowledged: int,
        accept_many: AcceptMany | None = None,
    ) -> None:
        """Without `accept_many`, the packets of a read go to `accept` one by one."""
        self._client = client
        self._accept = accept
        self._accept_many = accept_many or accept_each(accept, _log_error)
        self._bound = max_unacknowledged
        self._waiting: dict[tuple[asyncio.Future[None], Any], list[int]] = {}
        self._held = 0
        self._held_on: Any = None
        self._paused: Any = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop = asyncio.get_running_loop()
        self.max_held = 0
        """The most deliveries held unacknowledged at once (for tests and metrics)."""
        self.parsed_here = 0
        """PUBLISH packets parsed by `_read_packets` rather than by gmqtt (for tests)."""
        client._package_handler._handle_qos_1_publish_packet = self._on_qos1_publish
        client.on_message = self._on_message
        create_connection = client._create_connection

        async def read_directly(*args: Any, **kwargs: Any) -> Any:
            connection = await create_connection(*args, **kwargs)
            connection._protocol.data_received = _Reads(self, connection).data_received
            return connection

        client._create_connection = read_directly

    @property
    def held(self) -> int:
        """QoS 1 deliveries of the current connection waiting for their batch to be durable."""
        return self._held

    async def wait_acknowledged(self) -> None:
        """Return once every durable batch's PUBACKs are written (none left waiting)."""
        await self._idle.wait()

    def _on_message(
        self, client: Any, topic: str | bytes, payload: bytes, qos: int, properties: Any
    ) -> int:
        """QoS 0 deliveries (public gmqtt callback)."""
        delivery = Delivery(
            topic,
            payload,
            qos,
            bool(properties.get("retain")),
            bool(properties.get("dup")),
            None,
        )
        self._call_accept(delivery)
        return 0

    def _on_qos1_publish(
        self, mid: int, payload: bytes, topic: str | bytes, properties: Any
    ) -> None:
        connection = self._client._connection
        delivery = Delivery(
            topic,
            payload,
            1,
            bool(properties.get("retain")),
            bool(properties.get("dup")),
            mid,
        )
        self._hold(connection, delivery)

    def _hold(self, connection: Any, delivery: Delivery) -> None:
        """Accept a QoS 1 delivery; its PUBACK waits for its batch (at once if nothing to wait)."""
        mid = delivery.packet_id
        assert mid is not None
        durable = self._call_accept(delivery)
        if durable is None or durable.done():
            self._write(connection, [mid])
            return
        self._hold_all(connection, durable, [mid])

    def _hold_all(self, connection: Any, durable: asyncio.Future[None], mids: list[int]) -> None:
        """Hold the PUBACKs of `mids` until `durable` completes; stop reading at the bound."""
        if connection is not self._held_on:
            self._held, self._held_on, self._paused = 0, connection, None
        key = (durable, connection)
        waiting = self._waiting.get(key)
        if waiting is None:
            self._waiting[key] = mids
            durable.add_done_callback(partial(self._release, key))
            self._idle.clear()
        else:
            waiting += mids
        self._held += len(mids)
        if self._held > self.max_held:
            self.max_held = self._held
        if self._held >= self._bound and self._paused is None and not connection.is_closing():
            self._pause(connection)

    def _read_packets(self, connection: Any, data: bytes) -> int:
        """Split one socket read (and what was left of the last): its PUBLISH packets at QoS 0 or
        1 go to `accept_many` together, every other packet to gmqtt (`connection.put_package`,
        as its read loop does) after the PUBLISH packets before it; the bytes consumed, or -1."""
        mqtt5 = connection._protocol.proto_ver >= MQTTv50
        publishes: list[Publish] = []

        def other(command: int, start: int, end: int) -> None:
            if publishes:  # gmqtt delivers at once: those before it go first
                self._settle(connection, publishes)
                publishes.clear()
            connection.put_package(Package(command, data[start:end]))

        try:
            return split_packets(data, mqtt5, publishes, other)
        finally:
            if publishes:
                self._settle(connection, publishes)

    def _settle(self, connection: Any, publishes: list[Publish]) -> None:
        """After a socket read: accept its PUBLISH packets, hold their PUBACKs by batch, write
        those due at once.

        Should `accept_many` fail, none of the read's packets is acknowledged: some may sit in a
        batch that is not durable yet, and the broker delivers them all again after a reconnect.
        """
        self.parsed_here += len(publishes)
        try:
            groups = self._accept_many(publishes)
        except Exception:
            _log_error(publishes[0])
            return
        due: list[int] = []
        for durable, mids in groups:
            if durable is None or durable.done():
                due += mids
            else:
                self._hold_all(connection, durable, mids)
        if due:
            self._write(connection, due)

    def _pause(self, connection: Any) -> None:
        """Stop reading `connection`'s socket until `_release` brings `held` below the bound."""
        self._paused = connection
        connection._transport.pause_reading()
        self._loop.call_later(PROBE_INTERVAL, self._probe, connection)

    def _probe(self, connection: Any) -> None:
        if self._paused is not connection or connection.is_closing():
            return
        connection._protocol.send_ping_request()
        self._loop.call_later(PROBE_INTERVAL, self._probe, connection)

    def _call_accept(self, delivery: Delivery) -> asyncio.Future[None] | None:
        try:
            return self._accept(delivery)
        except Exception:
            logger.exception("unexpected error handling a message on %r", delivery.topic)
            return None

    def _release(
        self, key: tuple[asyncio.Future[None], Any], durable: asyncio.Future[None]
    ) -> None:
        mids = self._waiting.pop(key, [])
        if not self._waiting:
            self._idle.set()
        connection = key[1]
        if connection is self._held_on:
            self._held -= len(mids)
            if self._paused is connection and self._held < self._bound:
                self._paused = None
                if not connection.is_closing():
                    connection._transport.resume_reading()
        if durable.cancelled() or durable.exception() is not None:
            return  # not durable: no acknowledgement, the broker will deliver again
        self._write(connection, mids)

    def _write(self, connection: Any, mids: list[int]) -> None:
        if (
            connection is None
            or connection is not self._client._connection
            or connection.is_closing()
        ):
            return
        protocol = connection._protocol
        protocol.write_data(pubacks(mids, protocol.proto_ver >= MQTTv50))
        quick_ack(connection._transport)  # see quickack.py: the broker's next PUBLISH, not 40 ms on


class _Reads:
    """One connection's socket reads, handed to `LateAcks._read_packets` as they arrive
    (private use 4) instead of through gmqtt's StreamReader and read-loop task."""

    __slots__ = ("_acks", "_connection", "_rest")

    def __init__(self, acks: LateAcks, connection: Any) -> None:
        self._acks = acks
        self._connection = connection
        self._rest = b""

    def data_received(self, data: bytes) -> None:
        """The transport's read; the protocol's `data_received` (asyncio Protocol contract)."""
        connection = self._connection
        if connection._handler.current_connection is not connection:
            self._rest = b""
            return  # a superseded connection: gmqtt drops what it reads
        if self._rest:
            data = self._rest + data
        done = self._acks._read_packets(connection, data)
        if done < 0:
            logger.warning("malformed MQTT packet from the broker: closing the connection")
            connection._transport.close()  # gmqtt reconnects; unacknowledged ones come again
            return
        self._rest = data[done:] if done < len(data) else b""
        if done:
            connection._last_data_in = time.monotonic()


def _log_error(publish: Publish) -> None:
    logger.exception("unexpected error handling a message on %r", publish[0])


class InflightWindow(PersistentStorage):  # type: ignore[misc]
    """gmqtt's store of outbound QoS 1 publishes, which also lets a publisher wait for room.

    gmqtt keeps a publish here from PUBLISH until its PUBACK (and re-sends what is left after a
    reconnect); `wait_room(limit)` returns once fewer than `limit` publishes are in flight.
    """

    def __init__(self) -> None:
        super().__init__()
        self._inflight: set[int] = set()
        self._room: asyncio.Event | None = None

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def push_message(self, mid: int, raw_package: bytes) -> None:
        super().push_message(mid, raw_package)
        self._inflight.add(mid)

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self._inflight.discard(mid)
        self._wake()

    def clear(self) -> None:
        super().clear()
        self._inflight.clear()
        self._wake()

    async def wait_room(self, limit: int) -> None:
        while len(self._inflight) >= limit:
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()

    def _wake(self) -> None:
        if self._room is not None:
            self._room.set()
            self._room = None
