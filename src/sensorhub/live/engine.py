"""engine.io for the live fan-out: bounded per-client queues and live frames sent as prebuilt bytes.

`SendQueue` is each client's outgoing queue (engine.io's `create_queue` hook): it counts the live
events waiting, the measure of the laggard rule in `live/fanout.py`, and lets the writer take at
most `WRITER_TAKE` packets at a time. `LivePacket` holds live events' engine.io MESSAGE packets,
encoded once per event and audience as the WebSocket frames a server sends for them
(`live/coalesce.py::TextFrame`): one packet, or (`LivePacket.joined`) the frames of one drain
for one client, which leave in one write. engine.io's writer task passes `packet.encode()` to its
WebSocket object's `send`; `FramedWebSocket` (engine.io's ASGI WebSocket class, installed in the
server's driver table) writes the frames through the server's `FRAMES_EXTENSION` when
`CoalescingWebSocketProtocol` offers it, and sends each text the ordinary way otherwise.

Past the writer: a client's writer wakes up (a task step, and in Python 3.11 a task and a timer
of `asyncio.wait_for`) and goes through the queue for every packet it sends. `write_now` skips
both when nothing can be ahead of the packet: the socket is upgraded to WebSocket (only its
writer reads the queue), the writer waits in `get()` on an empty queue (it has written
everything it took, engine.io's own packets included), and the connection takes the frames at
once (`write_framed`: open, no extension, transport writable). Otherwise the packet is queued
as before, so ordering, flow control (the writer waits while the transport is paused) and the
backlog rules stay as they were; the frames are the same bytes either way.

engine.io internals used (python-engineio pinned in pyproject.toml), all here: the driver table
`AsyncServer._async["websocket"]`; that its WebSocket writer calls `pkt.encode()` without
arguments and the polling transport calls `pkt.encode(b64=True)` and joins packets with the
record separator; the `asgi.scope` entry of its environ; that the WebSocket class gets the
socket's bound `_websocket_handler` as `handler`; the socket's `queue`, `upgraded` and
`upgrading`; that only the writer reads the queue of an upgraded socket, through `poll()`
calling `get()` then `get_nowait()`; `Packet`'s attributes `packet_type`, `binary`,
`encode_cache`, `data`. tests/integration/test_live_frames.py checks with real clients (python-
socketio's, over WebSocket and over polling upgraded to WebSocket, and raw WebSocket clients)
that live events leave as prebuilt frames, at once and through the writer, in order with
engine.io's own packets, nothing on a WebSocket before its upgrade is done, a slow reader, the
laggard rule and clients leaving mid-stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers import asgi as eio_asgi

from sensorhub.live.coalesce import FRAMES_EXTENSION, TextFrame, text_frame

WRITER_TAKE: Final = 64
"""Packets engine.io's writer takes from a client's queue at once."""
_MESSAGE_PREFIX: Final = str(eio_packet.MESSAGE).encode()


class LivePacket(eio_packet.Packet):  # type: ignore[misc]
    """engine.io MESSAGE packets carrying `weight` live events, held as their WebSocket frames.

    `LivePacket(data, weight)` is one packet: `data` is the Socket.IO packet as UTF-8
    (`2["event",…]`, a batch frame carries many events). `LivePacket.joined(frames)` is one
    packet per frame of `frames` (`event_frame`, one event each) that leave together, in order:
    the events of one drain for one client. `message` holds the frames, built once.
    `Packet.__init__` is not called: it only classifies `data`.
    """

    def __init__(self, data: bytes, weight: int) -> None:
        self.packet_type = eio_packet.MESSAGE
        self.binary = False
        self.encode_cache = None
        self.weight = weight
        self.message = TextFrame(_MESSAGE_PREFIX + data)

    @classmethod
    def joined(cls, frames: list[bytes]) -> LivePacket:
        """The packets whose frames are `frames` (one event each), as one queue item."""
        self = cls.__new__(cls)
        self.packet_type = eio_packet.MESSAGE
        self.binary = False
        self.encode_cache = None
        self.weight = len(frames)
        self.message = TextFrame.joined(frames)
        return self

    @property
    def data(self) -> str:
        """The (first) Socket.IO packet's text (engine.io's `Packet.data`)."""
        return self.message.text[1:]

    def encode(self, b64: bool = False) -> Any:
        """For the WebSocket writer the `TextFrame` (`FramedWebSocket.send` takes it); for the
        polling transport (`b64=True`) the engine.io packets' text as a polling payload joins
        them (separated by the record separator)."""
        return "\x1e".join(self.message.texts()) if b64 else self.message


def event_frame(data: bytes) -> bytes:
    """The WebSocket frame of the engine.io MESSAGE packet carrying the Socket.IO packet `data`."""
    return text_frame(_MESSAGE_PREFIX + data)


class SendQueue(asyncio.Queue[Any]):
    """A client's outgoing engine.io queue; its writer takes at most `WRITER_TAKE` at a time.

    engine.io's `poll()` awaits `get()` once, then calls `get_nowait()` until the queue is empty.
    `events` counts the live events waiting in it (a batch frame counts its events), the measure
    of a client's backlog whatever its mode. `idle` is true while a reader waits in `get()`;
    `write` is the client's WebSocket `write_framed` once it has one (see `write_now`).
    """

    def __init__(self) -> None:
        super().__init__()
        self._taken = 0
        self.events = 0
        self.idle = False
        self.write: Callable[[TextFrame], bool] | None = None
        self.progress = time.monotonic()
        """When the writer last took packets, or work arrived for an idle writer (monotonic s)."""

    def _put(self, item: Any) -> None:  # asyncio.Queue's hook for subclasses
        if self.empty():
            self.progress = time.monotonic()  # an idle writer is not a stalled one
        super()._put(item)
        self.events += _weight(item)

    def _get(self) -> Any:
        item = super()._get()
        self.events -= _weight(item)
        return item

    async def get(self) -> Any:
        self._taken = 0
        self.idle = True
        try:
            item = await super().get()
        finally:
            self.idle = False
        self.progress = time.monotonic()
        return item

    def get_nowait(self) -> Any:
        if self._taken >= WRITER_TAKE:
            raise asyncio.QueueEmpty
        item = super().get_nowait()
        self._taken += 1
        return item

    def discard_all(self) -> None:
        while not self.empty():
            super().get_nowait()
            self.task_done()


def write_now(socket: Any, packet: LivePacket) -> bool:
    """Write `packet`'s frames to `socket`'s WebSocket at once, past its queue and writer, when
    that is what the writer would do next: the socket is on WebSocket for good (upgraded, so
    only its writer reads the queue), the writer waits on an empty queue (everything queued
    before, engine.io's own packets included, is written) and the connection takes the frames
    now (`CoalescingWebSocketProtocol.write_framed`). False, with nothing written, otherwise:
    then the packet goes through the queue, where the backlog rules see it.
    """
    queue: SendQueue = socket.queue
    write = queue.write
    return (
        write is not None
        and queue.idle
        and queue.empty()
        and socket.upgraded
        and not socket.upgrading
        and write(packet.message)
    )


def _weight(item: Any) -> int:
    if type(item) is LivePacket:
        return int(item.weight)
    return 0 if item is None else 1  # the writer's stop sentinel; engine.io's own packets


class FramedWebSocket(eio_asgi.WebSocket):  # type: ignore[misc]
    """engine.io's ASGI WebSocket; a `TextFrame` leaves through the server's `FRAMES_EXTENSION`
    (its prebuilt frames) when the server offers it, as a `websocket.send` of each text
    otherwise. With the extension, the engine.io socket's queue gets its `write` (`write_now`).
    """

    send_framed: Callable[[TextFrame], Awaitable[None]] | None = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        extensions = environ["asgi.scope"].get("extensions") or {}
        offered = extensions.get(FRAMES_EXTENSION)
        if offered is not None:
            self.send_framed = offered["send"]
            # engine.io passes its socket's bound `_websocket_handler` as the handler
            queue = getattr(getattr(self.handler, "__self__", None), "queue", None)
            if type(queue) is SendQueue:
                queue.write = offered["write"]
        return await super().__call__(environ)

    async def send(self, message: Any) -> None:
        if type(message) is TextFrame:
            if self.send_framed is not None:
                await self.send_framed(message)
                return
            for text in message.texts():
                await super().send(text)
            return
        await super().send(message)


class EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        drivers: dict[str, Any] = self.__dict__["_async"]  # engine.io sets it in __init__
        if drivers.get("websocket") is not eio_asgi.WebSocket:
            raise RuntimeError("the live fan-out needs engine.io's asgi async mode")
        self._async = {**drivers, "websocket": FramedWebSocket}

    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        return SendQueue()


class SocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return EngineIOServer
