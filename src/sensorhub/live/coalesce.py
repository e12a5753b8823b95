"""WebSocket writes coalesced per event-loop iteration: one socket write per client per iteration.

engine.io sends each Socket.IO packet as a WebSocket frame of its own, and uvicorn writes every
frame to the socket at once: for a client that asks for an event per message that is one `send`
system call per message, the largest part of what such a client costs the server (py-spy at
5,000 msg/s with one `mqtt-message` client: `send` under engine.io's writer in 24% of the
server's samples). `CoalescingWebSocketProtocol` is uvicorn's WebSocket protocol with a transport
whose `write` collects the bytes and writes them to the socket once, at the end of the current
event-loop iteration (`call_soon`): every frame queued during one iteration leaves in one write.
Nothing waits longer than that iteration; flow control is the real transport's (uvicorn's
protocol still pauses its sends above the transport's high-water mark).

Frames built once: a live event goes to every client as the same text, and a server's WebSocket
frame of a text is the same bytes for every connection that negotiated no extension (server
frames are not masked). `TextFrame` builds that frame once per event (or holds several, one
after the other), and the protocol offers the ASGI scope extension `FRAMES_EXTENSION` =
`{"send": send_framed, "write": write_framed}`: `write_framed` writes the prebuilt frames to the
transport now when it may (handshake done, connection open, no close sent, no extension
negotiated, no fragmented message in progress, transport writable) and returns False otherwise;
`send_framed` is an awaitable like a `websocket.send` of each text that does the same, waiting
first while the transport is paused, and sends the texts the ordinary way when it may not. It
saves, per frame and client, the ASGI message, uvicorn's checks and websockets' framing in
Python. `sensorhub.live.engine` sends live events through it.

Serve with `uvicorn.Config(app, ws=CoalescingWebSocketProtocol, ...)` (`ws` accepting a protocol
class is uvicorn's documented option). The base class comes from uvicorn's internal module
`uvicorn.protocols.websockets.websockets_sansio_impl`, pinned with uvicorn in pyproject.toml; this
module is the only place that imports it. It uses the protocol's `transport`, `scope`, `conn` (the
websockets `ServerProtocol`: `state`, `extensions`, `expect_continuation_frame`), `writable`,
`handshake_complete`, `close_sent`, `disconnected`, `initial_response`, `run_asgi` and `send`.
Every Socket.IO test in tests/integration runs through it, and
tests/integration/test_live_frames.py checks with real clients that live events leave as
prebuilt frames, so a uvicorn or websockets upgrade that changes them fails the tests.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

FRAMES_EXTENSION: Final = "sensorhub.websocket.frames"
"""The ASGI scope extension offering `send_framed` (see the module)."""
_TEXT_FIN: Final = 0x81


class TextFrame:
    """One or more text messages held as the WebSocket frames a server sends for them: unmasked,
    unfragmented (RFC 6455 section 5.2), concatenated in `frame`; `texts()` decodes them back.

    `TextFrame(data)` builds the frame of one message from its UTF-8 `data`; `TextFrame.joined`
    holds several prebuilt frames (`text_frame`), which leave in one write, in order.
    """

    __slots__ = ("count", "frame")

    def __init__(self, data: bytes) -> None:
        self.frame = text_frame(data)
        self.count = 1

    @classmethod
    def joined(cls, frames: list[bytes]) -> TextFrame:
        """The frames `text_frame` built, in order, as one `TextFrame`."""
        self = cls.__new__(cls)
        self.frame = frames[0] if len(frames) == 1 else b"".join(frames)
        self.count = len(frames)
        return self

    @property
    def text(self) -> str:
        """The text of the first (usually only) message."""
        return self.texts(1)[0]

    def texts(self, limit: int | None = None) -> list[str]:
        """The messages' texts, in order (at most `limit`)."""
        frame = self.frame
        return [frame[start:end].decode() for _, start, end in self._spans(limit)]

    def frames(self) -> list[bytes]:
        """The messages' frames, in order."""
        frame = self.frame
        return [frame[at:end] for at, _, end in self._spans(None)]

    def _spans(self, limit: int | None) -> list[tuple[int, int, int]]:
        """(frame start, text start, end) of each message, in order (at most `limit`)."""
        frame, at = self.frame, 0
        spans: list[tuple[int, int, int]] = []
        while at < len(frame) and (limit is None or len(spans) < limit):
            size = frame[at + 1]
            if size < 126:
                start = at + 2
            elif size == 126:
                size, start = struct.unpack_from("!H", frame, at + 2)[0], at + 4
            else:
                size, start = struct.unpack_from("!Q", frame, at + 2)[0], at + 10
            spans.append((at, start, start + size))
            at = start + size
        return spans


_HEADERS: Final = [
    bytes((_TEXT_FIN, size)) if size < 126 else struct.pack("!BBH", _TEXT_FIN, 126, size)
    for size in range(1024)
]
"""Frame headers of the usual live event sizes, built once."""


def text_frame(data: bytes) -> bytes:
    """The WebSocket frame a server sends for the text message `data` (UTF-8)."""
    size = len(data)
    if size < 1024:
        return _HEADERS[size] + data
    if size < 1 << 16:
        return struct.pack("!BBH", _TEXT_FIN, 126, size) + data
    return struct.pack("!BBQ", _TEXT_FIN, 127, size) + data


class CoalescingTransport(asyncio.Transport):
    """Wraps a transport: `write` buffers until the end of the loop iteration, then writes once."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._chunks: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._chunks:
            self._loop.call_soon(self.flush)
        self._chunks.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what was collected (one system call for every frame of the iteration)."""
        chunks, self._chunks = self._chunks, []
        if chunks and not self._transport.is_closing():
            self._transport.write(b"".join(chunks))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._chunks.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._chunks))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets' sans-I/O core) over a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        super().connection_made(CoalescingTransport(transport))

    async def run_asgi(self) -> None:
        extensions = self.scope.setdefault("extensions", {})
        if extensions is not None:
            extensions[FRAMES_EXTENSION] = {
                "send": self.send_framed,
                "write": self.write_framed,
            }
        await super().run_asgi()

    def write_framed(self, message: TextFrame) -> bool:
        """Write `message`'s prebuilt frames now if a `websocket.send` of each text could be
        written at once (handshake done, connection open, no close sent, no extension
        negotiated, no fragmented message in progress, transport writable); False otherwise,
        having written nothing."""
        conn = self.conn
        if (
            self.writable.is_set()
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and conn.state is State.OPEN
            and not conn.extensions
            and not conn.expect_continuation_frame
        ):
            self.transport.write(message.frame)
            return True
        return False

    async def send_framed(self, message: TextFrame) -> None:
        """Send `message` as a `websocket.send` of each of its texts would (which first waits
        while the transport is paused), writing its prebuilt frames when it may."""
        if self.write_framed(message):
            return
        await self.writable.wait()
        if not self.write_framed(message):
            for text in message.texts():
                await self.send({"type": "websocket.send", "bytes": None, "text": text})
