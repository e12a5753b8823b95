"""A cheap QoS 1 load generator: pre-encoded MQTT 3.1.1 PUBLISH packets on raw asyncio sockets.

The ingest benchmarks measure sensorhub, so the generator must cost little of the 2 cores it
shares with it. Each connection encodes its packets once (one per packet id 1…65535, topics and
plain-number payloads cycling over `modules` × `sensors`), then every `TICK` seconds writes the
packets due at the offered rate in one `transport.write`. PUBACKs are matched to the packet ids
outstanding: `acked` counts only first PUBACKs of packets in flight (what the broker has
accepted), `unexpected` counts any other PUBACK. A connection holds at most `MAX_IN_FLIGHT`
unacknowledged packets, far below the 65,535 ids, so an id is never reused while in flight.

MQTT 3.1.1 has no Receive Maximum: the broker acknowledges each PUBLISH as it reads it, so the
generator's rate is limited only by the broker's own reading (TCP backpressure pauses the writer).

    stats = publish(broker_url, prefix, rate=25_000, duration=20, processes=1, connections=4)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sensorhub.broker_url import BrokerAddress

TICK = 0.005
"""Seconds between writes: one write per connection carries everything due since the last."""
MAX_IN_FLIGHT = 20_000
"""Unacknowledged PUBLISH packets per connection before the writer waits for PUBACKs."""
IDS = 65_535
DRAIN_TIMEOUT = 30.0
"""Seconds to wait for the last PUBACKs after the last publish."""
SENSORS = 4


def remaining_length(length: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length (7 bits per byte)."""
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH packet (MQTT 3.1.1 and 5 without properties share the layout up to 3.1.1)."""
    name = topic.encode()
    body = struct.pack(">H", len(name)) + name + struct.pack(">H", packet_id) + payload
    return b"\x32" + remaining_length(len(body)) + body


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session."""
    name = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02" + struct.pack(">H", keepalive) + struct.pack(">H", len(name))
    return b"\x10" + remaining_length(len(body) + len(name)) + body + name


def messages(prefix: str, modules: int, first_module: int = 1) -> list[tuple[str, bytes]]:
    """One cycle of (topic, payload): every module's `SENSORS` sensors, plain numbers."""
    cycle = []
    for step in range(SENSORS * 10):
        for module in range(first_module, first_module + modules):
            sensor = step % SENSORS
            value = f"{20 + (module + step) % 100 / 10:.1f}".encode()
            cycle.append((f"{prefix}-{module:03d}/s{sensor}/temperature", value))
    return cycle


class PublishConnection(asyncio.Protocol):
    """One MQTT connection writing pre-encoded packets and counting PUBACKs by packet id."""

    def __init__(self, cycle: list[tuple[str, bytes]]) -> None:
        self.packets = [
            publish_packet(*cycle[n % len(cycle)], n + 1) for n in range(IDS)
        ]  # packet id n + 1
        self.outstanding = bytearray(IDS + 1)
        self.next = 0  # index of the next packet (its id is next + 1)
        self.published = 0
        self.acked = 0
        self.unexpected = 0
        self.connected = asyncio.get_running_loop().create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.acks = asyncio.Event()
        self.closed = False
        self._buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()
        self.acks.set()
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("broker closed the connection"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        complete = len(buffer) - len(buffer) % 4
        if buffer[0::4][: complete // 4] == b"\x40" * (complete // 4):  # only PUBACKs (4 bytes)
            self._acks(buffer[:complete])
            self._buffer = buffer[complete:]
            return
        self._buffer = self._packets(buffer)

    def _acks(self, chunk: bytes) -> None:
        outstanding = self.outstanding
        for _, packet_id in struct.iter_unpack(">HH", chunk):
            if outstanding[packet_id]:
                outstanding[packet_id] = 0
                self.acked += 1
            else:
                self.unexpected += 1
        self.acks.set()

    def _packets(self, buffer: bytes) -> bytes:
        """Parse any packets (CONNACK, PUBACK, PINGRESP); returns an incomplete tail."""
        position = 0
        while len(buffer) - position >= 2:
            kind = buffer[position] >> 4
            length, shift, index = 0, 0, position + 1
            while index < len(buffer):
                byte = buffer[index]
                length |= (byte & 0x7F) << shift
                shift += 7
                index += 1
                if not byte & 0x80:
                    break
            else:
                break
            end = index + length
            if end > len(buffer):
                break
            if kind == 2 and not self.connected.done():  # CONNACK
                if buffer[index + 1] == 0:
                    self.connected.set_result(None)
                else:
                    self.connected.set_exception(ConnectionError(f"refused {buffer[index + 1]}"))
            elif kind == 4:
                self._acks(buffer[position:end])
            position = end
        return buffer[position:]

    def write_due(self, count: int) -> int:
        """Write up to `count` packets in one write (fewer with a full window); how many."""
        count = min(count, MAX_IN_FLIGHT - (self.published - self.acked))
        if count <= 0 or self.closed or self.transport is None:
            return 0
        start, end = self.next, self.next + count
        outstanding = self.outstanding
        if end <= IDS:
            chunk = self.packets[start:end]
            outstanding[start + 1 : end + 1] = b"\x01" * count
        else:
            chunk = self.packets[start:] + self.packets[: end - IDS]
            outstanding[start + 1 : IDS + 1] = b"\x01" * (IDS - start)
            outstanding[1 : end - IDS + 1] = b"\x01" * (end - IDS)
        self.transport.write(b"".join(chunk))
        self.next = end % IDS
        self.published += count
        return count


@dataclass
class PublishStats:
    """What the generator did: `sent` = PUBLISHes the broker acknowledged (its PUBACKs).

    `published` counts packets written, `unexpected` PUBACKs for no packet in flight (should be 0),
    `elapsed` seconds from the first to the last publish, `rate` = sent / elapsed (msg/s),
    `cpu_seconds` the generator processes' CPU time from the first publish to the last PUBACK.
    """

    sent: int = 0
    published: int = 0
    unexpected: int = 0
    elapsed: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0


async def publish_async(
    broker_url: str,
    prefix: str,
    rate: float,
    duration: float,
    *,
    connections: int = 4,
    modules: int = 100,
    first_module: int = 1,
    start_at: float | None = None,
) -> PublishStats:
    """Publish at `rate` msg/s for `duration` s over `connections`; wait for the last PUBACKs.

    `start_at` (time.time()) lets processes start together. Raises ConnectionError when the
    broker refuses or closes a connection.
    """
    broker = BrokerAddress.parse(broker_url)
    loop = asyncio.get_running_loop()
    cycle = messages(prefix, modules, first_module)
    peers: list[PublishConnection] = []
    for n in range(connections):
        share = cycle[n::connections]
        _, peer = await loop.create_connection(
            lambda share=share: PublishConnection(share), broker.host, broker.port
        )
        assert peer.transport is not None
        peer.transport.write(connect_packet(f"{prefix}-pub-{uuid.uuid4().hex[:8]}"))
        await asyncio.wait_for(peer.connected, 10)
        peers.append(peer)
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    per_connection = rate / connections
    started, cpu_started = loop.time(), time.process_time()
    try:
        while (now := loop.time()) - started < duration:
            due = int(per_connection * (now - started))
            for peer in peers:
                if peer.closed:
                    raise ConnectionError("broker closed a connection")
                if peer.writable.is_set():
                    peer.write_due(due - peer.published)
            await asyncio.sleep(TICK)
        final = int(per_connection * duration)
        for peer in peers:
            while peer.published < final and not peer.closed:
                await peer.writable.wait()
                if not peer.write_due(final - peer.published):
                    peer.acks.clear()
                    await peer.acks.wait()
        elapsed = loop.time() - started
        deadline = loop.time() + DRAIN_TIMEOUT
        for peer in peers:
            while peer.acked < peer.published and not peer.closed and loop.time() < deadline:
                peer.acks.clear()
                with _suppress_timeout():
                    await asyncio.wait_for(peer.acks.wait(), deadline - loop.time())
    finally:
        for peer in peers:
            if peer.transport is not None:
                peer.transport.write(b"\xe0\x00")  # DISCONNECT
                peer.transport.close()
    return PublishStats(
        sent=sum(p.acked for p in peers),
        published=sum(p.published for p in peers),
        unexpected=sum(p.unexpected for p in peers),
        elapsed=elapsed,
        cpu_seconds=time.process_time() - cpu_started,
    )


class _suppress_timeout:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is TimeoutError


def _worker(arguments: dict[str, Any], results: Any) -> None:
    try:
        results.put(asyncio.run(publish_async(**arguments)))
    except Exception as error:
        results.put(f"{type(error).__name__}: {error}")


def publish(
    broker_url: str,
    prefix: str,
    rate: float,
    duration: float,
    *,
    processes: int = 1,
    connections: int = 4,
    modules: int = 100,
) -> PublishStats:
    """Run the generator in `processes` spawned processes (modules split between them).

    Raises RuntimeError when a process fails (the message says why).
    """
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 1.5  # after every process has connected
    workers = []
    first = 1
    for part in range(processes):
        share = modules // processes + (part < modules % processes)
        arguments = {
            "broker_url": broker_url,
            "prefix": prefix,
            "rate": rate * share / modules,
            "duration": duration,
            "connections": max(1, connections // processes),
            "modules": share,
            "first_module": first,
            "start_at": start_at,
        }
        first += share
        worker = context.Process(target=_worker, args=(arguments, results), daemon=True)
        worker.start()
        workers.append(worker)
    outcomes: list[PublishStats | str] = []
    deadline = time.monotonic() + duration + DRAIN_TIMEOUT + 60
    while len(outcomes) < len(workers) and time.monotonic() < deadline:
        try:
            outcomes.append(results.get(timeout=1.0))
        except queue.Empty:
            if not any(worker.is_alive() for worker in workers) and results.empty():
                outcomes.append("a publisher process exited without a result")
    for worker in workers:
        worker.join(10)
    failures = [o for o in outcomes if isinstance(o, str)]
    if failures:
        raise RuntimeError("publisher failed: " + "; ".join(failures))
    parts = [o for o in outcomes if isinstance(o, PublishStats)]
    return PublishStats(
        sent=sum(p.sent for p in parts),
        published=sum(p.published for p in parts),
        unexpected=sum(p.unexpected for p in parts),
        elapsed=max(p.elapsed for p in parts),
        cpu_seconds=sum(p.cpu_seconds for p in parts),
    )
