"""Live events leave as prebuilt WebSocket frames (live/coalesce.py's `FRAMES_EXTENSION`).

Guards the private uvicorn and engine.io parts the fast path relies on, with real clients: if
engine.io stops taking its WebSocket class from its driver table, uvicorn stops passing the scope
extension, or their attributes change, the frames fall back to `websocket.send` (counted here) or
fail to arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket as socket_module
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.live import fanout
from sensorhub.live.coalesce import CoalescingWebSocketProtocol, TextFrame
from sensorhub.live.engine import LivePacket, write_now
from sensorhub.live.events import mqtt_message
from tests.support import live_server, wait_until


def reading(value: int) -> Accepted:
    return Accepted(
        topic="frames-1/co2",
        module_id="frames-1",
        kind=MessageKind.MEASUREMENT,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        value=value,
    )


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts live texts written as prebuilt frames (by engine.io's writer or at once, past the
    queue: `direct`) and those sent through `websocket.send`."""
    counts = {"framed": 0, "direct": 0, "sent": 0}
    write_framed, send = CoalescingWebSocketProtocol.write_framed, CoalescingWebSocketProtocol.send

    def counting_framed(self: Any, message: TextFrame) -> bool:
        written = write_framed(self, message)
        counts["framed"] += written
        return written

    def counting_now(socket: Any, packet: LivePacket) -> bool:
        written = write_now(socket, packet)
        counts["direct"] += written
        return written

    async def counting_send(self: Any, message: Any) -> None:
        if message.get("type") == "websocket.send" and "frames-1" in (message.get("text") or ""):
            counts["sent"] += 1
        await send(self, message)

    monkeypatch.setattr(CoalescingWebSocketProtocol, "write_framed", counting_framed)
    monkeypatch.setattr(CoalescingWebSocketProtocol, "send", counting_send)
    monkeypatch.setattr(fanout, "write_now", counting_now)
    return counts


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]])
async def test_live_events_leave_as_prebuilt_frames(
    writes: dict[str, int], transports: list[str]
) -> None:
    async with live_server() as (url, plugin):
        client = socketio.AsyncClient(reconnection=False)
        received: asyncio.Queue[Any] = asyncio.Queue()
        client.on("mqtt-message", received.put_nowait)
        await client.connect(url, transports=transports, auth={"events": ["mqtt-message"]})
        try:
            await wait_until(lambda: client.transport() == "websocket", what="websocket upgrade")
            for value in range(20):
                plugin.publish_message(reading(value))
                await asyncio.sleep(0)
            values = [(await asyncio.wait_for(received.get(), 10))["value"] for _ in range(20)]
        finally:
            await client.disconnect()
    assert values == list(range(20))
    assert writes["framed"] > 0 and writes["sent"] == 0


async def test_a_connection_with_compression_gets_its_frames_the_ordinary_way(
    writes: dict[str, int],
) -> None:
    from websockets.asyncio.client import connect

    async with live_server(deflate=True) as (url, plugin):
        ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        async with connect(ws_url, compression="deflate") as ws:
            assert str(await ws.recv()).startswith("0")
            await ws.send('40{"events":["mqtt-message"]}')
            assert str(await ws.recv()).startswith("40")
            plugin.publish_message(reading(7))
            message = str(await asyncio.wait_for(ws.recv(), 10))
    assert message.startswith('42["mqtt-message"') and '"value":7' in message
    assert writes["sent"] == 1


async def test_events_keep_their_order_whether_written_at_once_or_queued(
    writes: dict[str, int],
) -> None:
    """A drain's frames go straight to an idle writer's socket, or behind what waits in the
    queue (here engine.io NOOP packets, as a ping would): either way each client gets its
    events in publish order, config updates in place and engine.io's packets where they were
    queued, for `mqtt-message` and for the seed dashboard's `mqtt:data` (polling upgraded to
    WebSocket, as socket.io-client connects)."""
    async with live_server() as (url, plugin):
        own, seed = Recorder(), Recorder()
        await own.sio.connect(url, transports=["websocket"], auth={"events": ["mqtt-message"]})
        await seed.sio.connect(url, transports=["polling", "websocket"], auth={})
        try:
            async with raw_client(url, '40{"events":["mqtt-message"]}') as raw:
                await wait_until(lambda: seed.sio.transport() == "websocket", what="upgrade")
                sockets = list(plugin.server.eio.sockets.values())
                expected: list[tuple[str, Any]] = []
                raw_expected: list[tuple[str, Any]] = []
                value = 0
                for round_ in range(90):
                    events = []
                    for _ in range(round_ % 7 + 1):
                        plugin.publish_message(reading(value))
                        events.append(("mqtt-message", value))
                        value += 1
                    if round_ % 3 == 0:  # queued before the drain of the events just published
                        for socket in sockets:
                            socket.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))
                        raw_expected.append(("noop", None))
                    if round_ % 10 == 5:
                        plugin.publish_config_update("frames-1", {"round": round_})
                        events.append(("config-update", round_))
                    expected += events
                    raw_expected += events
                    # before a NOOP round every earlier drain is done: its timer is due within
                    # the send tick (at most BUSY_TICK), before this sleep's
                    pause = fanout.BUSY_TICK + 0.001
                    await asyncio.sleep(pause if round_ % 2 or round_ % 3 == 2 else 0)
                raw_got = [decode(await asyncio.wait_for(raw.recv(), 10)) for _ in raw_expected]
            assert raw_got == raw_expected
            assert await own.take(len(expected)) == expected
            assert await seed.take(len(expected)) == [
                ("mqtt:data", v) if name == "mqtt-message" else (name, v) for name, v in expected
            ]
        finally:
            await own.sio.disconnect()
            await seed.sio.disconnect()
    assert writes["direct"] > 0, "no drain was written at once"
    assert writes["framed"] > writes["direct"], "no drain went through engine.io's writer"
    assert writes["sent"] == 0


async def test_a_client_upgrading_mid_stream_misses_nothing() -> None:
    """Events flow while a client connects over polling and upgrades to WebSocket: nothing
    leaves on the new WebSocket before the upgrade is done, so the events arrive in order
    without a gap."""
    async with live_server() as (url, plugin):
        client = Recorder()
        stop = asyncio.Event()

        async def publish() -> int:
            value = 0
            while not stop.is_set():
                plugin.publish_message(reading(value))
                value += 1
                await asyncio.sleep(0.002)
            return value

        publisher = asyncio.create_task(publish())
        try:
            await client.sio.connect(
                url, transports=["polling", "websocket"], auth={"events": ["mqtt-message"]}
            )
            await wait_until(lambda: client.sio.transport() == "websocket", what="upgrade")
            first = (await client.take(1))[0][1]
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            published = await publisher
        try:
            got = [v for _, v in await client.take(published - first - 1)]
        finally:
            await client.sio.disconnect()
    assert got == list(range(first + 1, published))


async def test_nothing_leaves_on_a_websocket_before_its_upgrade_completes() -> None:
    """A client on polling opens its WebSocket for the upgrade while a poll waits: events
    published then go to the poll, and the WebSocket carries the probe's answer first."""
    import httpx
    from websockets.asyncio.client import connect

    async with live_server() as (url, plugin), httpx.AsyncClient(timeout=10) as http:
        base = f"{url}/socket.io/?EIO=4&transport=polling"
        sid = json.loads((await http.get(base)).text[1:])["sid"]
        await http.post(f"{base}&sid={sid}", content='40{"events":["mqtt-message"]}')
        assert (await http.get(f"{base}&sid={sid}")).text.startswith("40")
        poll = asyncio.create_task(http.get(f"{base}&sid={sid}"))
        await wait_until(lambda: plugin.server.eio.sockets[sid].queue.idle, what="a waiting poll")
        ws_url = url.replace("http", "ws") + f"/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with connect(ws_url, compression=None) as ws:
            await wait_until(
                lambda: plugin.server.eio.sockets[sid].queue.write is not None,
                what="the WebSocket opened on the server",
            )
            plugin.publish_message(reading(1))
            polled = (await poll).text
            await ws.send("2probe")
            assert await asyncio.wait_for(ws.recv(), 10) == "3probe"
            await ws.send("5")
            await wait_until(lambda: plugin.server.eio.sockets[sid].upgraded, what="upgraded")
            plugin.publish_message(reading(2))
            frame = str(await asyncio.wait_for(ws.recv(), 10))
            while frame == "6":  # the NOOP that ends a poll
                frame = str(await asyncio.wait_for(ws.recv(), 10))
    assert [decode(text) for text in polled.split("\x1e")] == [("mqtt-message", 1)]
    assert decode(frame) == ("mqtt-message", 2)


async def test_a_slow_reader_gets_every_frame_in_order_across_queue_and_direct_writes(
    writes: dict[str, int],
) -> None:
    """A client that stops reading makes the server queue its frames (the transport pauses);
    once it reads again the backlog drains and later drains are written at once again. The
    frames it reads are byte for byte what python-socketio would send."""
    async with (
        live_server() as (url, plugin),
        raw_client(url, '40{"events":["mqtt-message"]}') as ws,
    ):
        [socket] = plugin.server.eio.sockets.values()
        ws.transport.pause_reading()
        sent = []
        while socket.queue.events == 0:  # until its writer waits for the transport
            assert len(sent) < 20_000, "the server never queued for the paused client"
            for _ in range(50):
                sent.append(log_line(len(sent)))
                plugin.publish_message(sent[-1])
            await asyncio.sleep(0.002)
        queued_at = writes["direct"]
        for _ in range(50):
            sent.append(log_line(len(sent)))
            plugin.publish_message(sent[-1])
        await asyncio.sleep(0.002)
        assert writes["direct"] == queued_at  # behind the backlog, nothing jumps the queue
        ws.transport.resume_reading()

        total = len(sent) + 300

        async def read() -> list[str]:
            return [str(await asyncio.wait_for(ws.recv(), 10)) for _ in range(total)]

        reader = asyncio.create_task(read())
        for _ in range(300):  # while the backlog drains, and after
            sent.append(log_line(len(sent)))
            plugin.publish_message(sent[-1])
            await asyncio.sleep(0)
        received = await reader
        for _ in range(3):  # the backlog gone, drains are written at once again
            sent.append(log_line(len(sent)))
            plugin.publish_message(sent[-1])
            received.append(str(await asyncio.wait_for(ws.recv(), 10)))
    assert received == [socketio_text("mqtt-message", mqtt_message(a)) for a in sent]
    assert writes["direct"] > queued_at and writes["sent"] == 0


async def test_a_stalled_client_is_dropped_and_the_others_keep_their_order(
    writes: dict[str, int],
) -> None:
    """The laggard rule (live/fanout.py) holds for drains written at once: a client that never
    reads is dropped when its queued backlog passes the bound; the others miss nothing."""
    async with live_server() as (url, plugin):
        plugin.manager.max_backlog, plugin.manager.hard_backlog = 100, 400
        reader = Recorder()
        await reader.sio.connect(url, transports=["websocket"], auth={"events": ["mqtt-message"]})
        try:
            async with raw_client(url, '40{"events":["mqtt-message"]}') as ws:
                ws.transport.pause_reading()
                await wait_until(lambda: plugin.clients == 2, what="both clients connected")
                sent = 0
                while plugin.clients == 2:
                    assert sent < 20_000, "the stalled client was never dropped"
                    for _ in range(50):
                        plugin.publish_message(log_line(sent))
                        sent += 1
                    got = await reader.take(50)
                    assert [v for _, v in got] == [f"{n:06d}" for n in range(sent - 50, sent)]
            plugin.publish_message(log_line(sent))
            assert await reader.take(1) == [("mqtt-message", f"{sent:06d}")]
        finally:
            await reader.sio.disconnect()
    assert writes["direct"] > 0


async def test_clients_leaving_mid_stream_disturb_nobody(
    writes: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    """One client disconnects, another's connection is cut, while drains are being written at
    once to all three: the third gets every event in order and nothing fails on the server."""
    async with live_server() as (url, plugin):
        stays, leaves = Recorder(), Recorder()
        for client in (stays, leaves):
            await client.sio.connect(
                url, transports=["websocket"], auth={"events": ["mqtt-message"]}
            )
        try:
            async with raw_client(url, "40{}") as cut:
                await wait_until(lambda: plugin.clients == 3, what="three clients connected")
                for value in range(600):
                    plugin.publish_message(reading(value))
                    if value == 200:
                        await leaves.sio.disconnect()
                    elif value == 400:
                        cut.transport.abort()
                    await asyncio.sleep(0 if value % 4 else 0.001)
                await wait_until(lambda: plugin.clients == 1, what="two clients gone")
            assert [v for _, v in await stays.take(600)] == list(range(600))
        finally:
            await stays.sio.disconnect()
    assert writes["direct"] > 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class Recorder:
    """A python-socketio client recording (event, value) in arrival order: a reading's value,
    a log line's first 6 characters, a config update's `round`."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in ("mqtt-message", "mqtt:data", "config-update"):
            self.sio.on(name, self._handler(name))

    def _handler(self, name: str) -> Any:
        def handle(data: Any) -> None:
            if name == "config-update":
                self.events.put_nowait((name, data["config"]["round"]))
            elif data.get("metadata") and "msg" in data["metadata"]:
                self.events.put_nowait((name, data["metadata"]["msg"][:6]))
            else:
                self.events.put_nowait((name, data["value"]))

        return handle

    async def take(self, count: int) -> list[tuple[str, Any]]:
        return [await asyncio.wait_for(self.events.get(), 10) for _ in range(count)]


@contextlib.asynccontextmanager
async def raw_client(url: str, join: str) -> AsyncIterator[Any]:
    """A raw Socket.IO-over-WebSocket client with small socket buffers, joined with `join`."""
    from websockets.asyncio.client import connect

    parts = urlsplit(url)
    sock = socket_module.socket(socket_module.AF_INET, socket_module.SOCK_STREAM)
    sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    ws_url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
    async with connect(
        ws_url, sock=sock, max_queue=1, ping_interval=None, compression=None, max_size=None
    ) as ws:
        assert str(await asyncio.wait_for(ws.recv(), 10)).startswith("0")
        await ws.send(join)
        assert str(await asyncio.wait_for(ws.recv(), 10)).startswith("40")
        yield ws


def log_line(n: int) -> Accepted:
    """A 2 KB device log line starting with `n` (fills socket buffers quickly)."""
    return Accepted(
        topic="frames-1/logs",
        module_id="frames-1",
        kind=MessageKind.LOG,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        metadata={"level": "info", "msg": f"{n:06d} " + "x" * 2000},
    )


def decode(text: Any) -> tuple[str, Any]:
    """A raw client's frame as (event, value) like `Recorder`'s, ("noop", None) for a NOOP."""
    if text == "6":
        return ("noop", None)
    assert str(text).startswith("42"), text
    name, data = json.loads(text[2:])
    return (name, data["config"]["round"] if name == "config-update" else data["value"])


def socketio_text(event: str, payload: Any) -> str:
    """The engine.io MESSAGE packet python-socketio sends for `event` (what a client reads)."""
    return "4" + sio_packet.Packet(data=[event, payload]).encode()
