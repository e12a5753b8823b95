"""Helpers of the fault tests: a Mosquitto of their own, resident memory, metric samples."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from sensorhub.plugins.embedded import free_port
from tests.support import Publisher, RunningApp, reading, wait_until


class Mosquitto:
    """One `mosquitto` process on a free port, its configuration and log in `directory`.

    With `persistence` (the default) it keeps sessions and queued messages in `directory` across
    restarts; `max_inflight_messages` (a count, None: Mosquitto's default) bounds what it sends
    each client unacknowledged. It queues up to 1,000,000 messages per offline client.
    """

    def __init__(
        self,
        directory: Path,
        *,
        persistence: bool = True,
        max_inflight_messages: int | None = None,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            *(
                ["persistence true", f"persistence_location {directory}/", "autosave_interval 0"]
                if persistence
                else ["persistence false"]
            ),
            *([f"max_inflight_messages {max_inflight_messages}"] if max_inflight_messages else []),
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            "message_size_limit 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise it drops to `mosquitto`, who cannot write here
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["mosquitto", "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        await wait_until(self._answers, timeout=15, what=f"mosquitto on port {self.port}")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
            return True
        return False

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it; SIGTERM lets it write its persistence file first."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 15)


def rss_mib() -> float:
    """Resident memory of this process (sensorhub runs in it), in MiB."""
    import psutil

    return float(psutil.Process(os.getpid()).memory_info().rss) / 2**20


def metric(running: RunningApp, name: str, **labels: str) -> float:
    """A sample of the running app's Prometheus registry (0 when absent)."""
    registry = running.runtime.metrics.registry
    value = registry.get_sample_value(name, labels or None)
    return float(value or 0.0)


class SteadyStream:
    """A background QoS 1 stream of readings at a steady rate, until `stop`."""

    def __init__(self, publisher: Publisher, topic: str, rate: float, start: int = 0) -> None:
        self._publisher = publisher
        self._topic = topic
        self._rate = rate
        self.next = start
        self._task: asyncio.Task[None] | None = None

    def start(self) -> SteadyStream:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        tick = 0.05
        per_tick = max(1, round(self._rate * tick))
        while True:
            for _ in range(per_tick):
                self._publisher.publish(self._topic, reading(self.next), qos=1)
                self.next += 1
            await asyncio.sleep(tick)

    async def stop(self) -> int:
        """Stop publishing; returns how many readings were published in all."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.next


class RawMqtt:
    """A hand-rolled MQTT 3.1.1 publisher: sends any topic bytes, even ones a broker refuses."""

    def __init__(self, port: int, client_id: str) -> None:
        self.port = port
        self.client_id = client_id
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._mid = 0

    async def __aenter__(self) -> RawMqtt:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        await self.close()
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        client_id = self.client_id.encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
        self._writer.write(_packet(0x10, body))
        kind, ack = await asyncio.wait_for(self._read_packet(), 10)
        assert kind == 0x20 and ack[1] == 0, (kind, ack)

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def publish(self, topic: bytes, payload: bytes) -> bool:
        """Publish at QoS 1; True once the broker acknowledged, False if it hung up instead."""
        assert self._writer is not None
        self._mid = self._mid % 65535 + 1
        self._writer.write(publish_packet(topic, payload, qos=1, mid=self._mid))
        try:
            await self._writer.drain()
            kind, body = await asyncio.wait_for(self._read_packet(), 15)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.connect()
            return False
        assert kind == 0x40 and int.from_bytes(body, "big") == self._mid, (kind, body)
        return True

    async def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def _read_packet(self) -> tuple[int, bytes]:
        assert self._reader is not None
        first = (await self._reader.readexactly(1))[0]
        length, shift = 0, 0
        while True:
            byte = (await self._reader.readexactly(1))[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first & 0xF0, await self._reader.readexactly(length)


def _packet(first: int, body: bytes) -> bytes:
    length = len(body)
    encoded = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([first]) + bytes(encoded) + body


def publish_packet(topic: bytes, payload: bytes, *, qos: int = 0, mid: int = 0) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    return _packet(0x30 | qos << 1, body + payload)
