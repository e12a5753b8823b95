"""Local fan-out of live events: encode once per audience, queue without awaiting, drop laggards.

python-socketio's own `emit` creates one task per recipient and per event and awaits them all, and
engine.io keeps an *unbounded* outgoing queue per client whose writer moves the whole queue into a
private list before sending, so a client that stops reading would make the server buffer for it
forever, out of sight. Here each client's queue is a `SendQueue` (`live/engine.py`), from which the
writer takes at most `WRITER_TAKE` packets at a time (the rest of the backlog stays countable), and
the manager encodes each frame once per audience and hands each recipient its packet without
awaiting: written at once when its writer is idle (`live/engine.py::write_now`), put on its queue
otherwise. A client is dropped (its backlog freed, its connection closed) when its backlog
passes `hard_backlog` events, or stays above `max_backlog` while its writer takes nothing for
`stall_grace` seconds: a client whose writer keeps taking is not dropped for a burst (the broker
delivers thousands of messages at once after each flush), a stalled one is dropped within the grace.
Behind the writer only the transport's own bounded buffers remain (uvicorn pauses the writer above
64 KiB; a packet is written at once only while the transport is writable, and an empty queue is
never a stalled one). Frames are JSON-encoded with orjson (stdlib json for what orjson refuses,
such as integers beyond 64 bits).

Audiences: the manager keeps each client's `ClientOptions` (events, batch, modules). Per-message
clients are grouped per module id into the sockets that want `mqtt:data` and those that want
`mqtt-message` (cached until a client connects, leaves or changes its subscription), so one
message costs one encode per event name; each recipient gets the frames of a whole drain as one
packet (shared by the recipients that get the same frames), so a drain costs one write or queue
put per recipient. Batched clients are grouped by subscription set: every `batch_interval`
seconds (only while events arrive) each group gets one `mqtt:batch` frame, encoded once for the
group.

Frames: a `LivePacket` carries its WebSocket frames, built once per event and audience from the
JSON bytes; `live/engine.py` writes them as they are (see there). A socket still on polling gets
one queue item per event, as engine.io's polling payloads expect.

Events reach the manager as one internal emit (`LIVE`) carrying a list of `mqtt-message` dicts,
so with Redis (`BoundedRedisFanout`) one Redis publish carries a whole broadcaster drain and every
instance runs this same local fan-out for its own clients.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import orjson
import socketio
from socketio import packet as sio_packet

from sensorhub.live.access import ClientOptions
from sensorhub.live.coalesce import text_frame
from sensorhub.live.engine import LivePacket, SendQueue, event_frame, write_now
from sensorhub.live.events import (
    CONFIG_UPDATE,
    MQTT_BATCH,
    MQTT_DATA,
    MQTT_MESSAGE,
    LiveMessage,
    mqtt_data,
    reading_message,
    reading_packet,
)

logger = logging.getLogger(__name__)

LIVE: Final = "sensorhub:live"
"""Internal emit: a list of `mqtt-message` dicts, fanned out per client options; never sent."""
CONFIG: Final = "sensorhub:config"
"""Internal emit: a `config-update` payload, sent to every client following its module."""
MAX_CLIENT_BACKLOG: Final = 5_000
"""Events waiting for one client (~1 s of traffic at 5,000 msg/s) above which a client whose writer
takes nothing for `STALL_GRACE` seconds is dropped. Counted across frames: a batch frame counts
the events it carries, so batched clients are bounded alike."""
HARD_CLIENT_BACKLOG: Final = 20_000
"""Events waiting for one client above which it is dropped at once: the memory bound per client
(a few MB of encoded frames)."""
STALL_GRACE: Final = 2.0
"""Seconds a client's writer may take nothing while its backlog is above `MAX_CLIENT_BACKLOG`."""
SEND_TICK: Final = 0.001
"""Seconds between two drains of the live events while per-message clients are connected: the
first event after a quiet tick leaves at once, later ones wait for the tick's end, so evenly paced
traffic (one message per loop iteration) still wakes each client's writer and writes its socket
once per tick rather than once per message. At most this much latency is added, or `BUSY_TICK`."""
BUSY_RATE: Final = 3_000
"""Events per second (drained over the time since the previous drain) from which the next send
tick is `BUSY_TICK`: at 5,000 evenly paced msg/s a 1 ms tick writes each socket 1,000 times a
second for 5 events each, and a write (on loopback the sender does the receiver's TCP work too)
costs 20-30 µs of system time, more than the events' own Python."""
BUSY_TICK: Final = 0.004
"""The send tick while events arrive at `BUSY_RATE` or more: about 20 events per write at 5,000
msg/s; below that rate (100 msg/s, 1,000 msg/s) the tick stays `SEND_TICK`."""
NAMESPACE: Final = "/"
EVENT_PREFIX: Final = str(sio_packet.EVENT).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """Per-message recipients of one module's events."""

    data: tuple[Any, ...]
    message: tuple[Any, ...]


class BoundedFanout(socketio.AsyncManager):  # type: ignore[misc]
    """Local delivery without awaiting clients, per client options, dropping laggards."""

    max_backlog: int = MAX_CLIENT_BACKLOG
    hard_backlog: int = HARD_CLIENT_BACKLOG
    stall_grace: float = STALL_GRACE
    on_drop: Callable[[], None] | None = None
    batch_interval: float = 0.01

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._options: dict[str, tuple[str, ClientOptions]] = {}
        self._routes: dict[str, Route] = {}
        self._batch_groups: list[tuple[frozenset[str] | None, tuple[Any, ...]]] | None = None
        self._per_message: bool | None = None
        self._pending: list[LiveMessage] = []
        self._tick: asyncio.TimerHandle | None = None

    # --- who wants what ---------------------------------------------------------------------

    def register(self, sid: str, eio_sid: str, options: ClientOptions) -> None:
        """Start delivering to a connected client according to `options`."""
        self._options[sid] = (eio_sid, options)
        self._changed()

    def unregister(self, sid: str) -> None:
        if self._options.pop(sid, None) is not None:
            self._changed()

    def options(self, sid: str) -> ClientOptions | None:
        entry = self._options.get(sid)
        return entry[1] if entry is not None else None

    def set_modules(self, sid: str, modules: frozenset[str] | None) -> None:
        """Replace the modules a client follows (None: every module)."""
        entry = self._options.get(sid)
        if entry is not None:
            eio_sid, options = entry
            self._options[sid] = (eio_sid, dataclasses.replace(options, modules=modules or None))
            self._changed()

    def _changed(self) -> None:
        self._routes.clear()
        self._batch_groups = None
        self._per_message = None

    @property
    def per_message_clients(self) -> bool:
        """Whether any client of this instance gets per-message events (not only batches)."""
        if self._per_message is None:
            self._per_message = any(not options.batch for _, options in self._options.values())
        return self._per_message

    def _route(self, module_id: str) -> Route:
        data, message = [], []
        for socket, options in self._sockets():
            if options.batch or (options.modules is not None and module_id not in options.modules):
                continue
            if MQTT_DATA in options.events:
                data.append(socket)
            if MQTT_MESSAGE in options.events:
                message.append(socket)
        route = self._routes[module_id] = Route(tuple(data), tuple(message))
        return route

    def _groups(self) -> list[tuple[frozenset[str] | None, tuple[Any, ...]]]:
        if self._batch_groups is None:
            groups: dict[frozenset[str] | None, list[Any]] = {}
            for socket, options in self._sockets():
                if options.batch:
                    groups.setdefault(options.modules, []).append(socket)
            self._batch_groups = [(modules, tuple(s)) for modules, s in groups.items()]
        return self._batch_groups

    def _sockets(self) -> Iterable[tuple[Any, ClientOptions]]:
        sockets = self.server.eio.sockets
        for eio_sid, options in self._options.values():
            socket = sockets.get(eio_sid)
            if socket is not None:
                yield socket, options

    # --- delivery ---------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if event == LIVE:
            self.deliver(data)
        elif event == CONFIG:
            self.deliver_config(data)
        else:  # the stock path (acknowledgements, anything else emitted directly)
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )

    def deliver(self, messages: list[LiveMessage], flush_batches: bool = False) -> None:
        """Fan out `mqtt-message` dicts, or the fast path's `LiveReading` tuples whose dict
        `reading_message` gives, to this instance's clients; never awaits a client.

        A reading's `mqtt-message` frame is built from the tuple (`reading_packet`), its dict
        only when an `mqtt:data` or batched client needs it. Batched clients get them at the end
        of the current tick (`batch_interval` after the first event after a quiet period), or at
        once with `flush_batches` (the caller's own timer was that tick).
        """
        routes, encode = self._routes, self.encode
        audiences: list[tuple[Any, ...]] = []
        frames: list[bytes] = []
        for message in messages:
            module_id = message[1] if isinstance(message, tuple) else message["moduleId"]
            route = routes.get(module_id) or self._route(module_id)
            if route.data:
                if isinstance(message, tuple):
                    message = reading_message(message)
                payload = mqtt_data(message)
                if payload is not None:
                    audiences.append(route.data)
                    frames.append(event_frame(encode(MQTT_DATA, payload)))
            if route.message:
                audiences.append(route.message)
                if isinstance(message, tuple):
                    frames.append(text_frame(reading_packet(message)))
                else:
                    frames.append(event_frame(encode(MQTT_MESSAGE, message)))
        if frames:
            self._send_frames(audiences, frames)
        if messages and self._groups():
            self._pending.extend(messages)
            if flush_batches:
                if self._tick is not None:
                    self._tick.cancel()
                self._flush_batches()
            elif self._tick is None:
                loop = asyncio.get_running_loop()
                self._tick = loop.call_later(self.batch_interval, self._flush_batches)

    def _flush_batches(self) -> None:
        """One `mqtt:batch` frame per batched client: encoded once per subscription set."""
        pending = [reading_message(m) if isinstance(m, tuple) else m for m in self._pending]
        self._pending, self._tick = [], None
        for modules, sockets in self._groups():
            events = pending
            if modules is not None:
                events = [m for m in pending if m["moduleId"] in modules]
            if events:
                self._send(sockets, MQTT_BATCH, events, len(events))

    def deliver_config(self, payload: dict[str, Any]) -> None:
        """`config-update` to every client (any mode) following the module."""
        module_id = payload.get("moduleId")
        sockets = [
            socket
            for socket, options in self._sockets()
            if options.modules is None or module_id in options.modules
        ]
        if sockets:
            self._send(sockets, CONFIG_UPDATE, payload)

    def encode(self, event: str, payload: Any) -> bytes:
        """The Socket.IO EVENT packet for the default namespace as UTF-8, the text `Packet.encode`
        makes (the same JSON, compact; non-ASCII characters as UTF-8 rather than `\\u` escapes).

        Built directly: `Packet()` first walks the whole payload looking for binary data, which
        live payloads (JSON from `mqtt_message`) never hold; that walk cost as much as the JSON
        encoding of an `mqtt:batch` frame. orjson encodes a frame about ten times as fast as
        stdlib json; what it refuses (integers beyond 64 bits in device metadata) goes to json.
        """
        try:
            return EVENT_PREFIX + orjson.dumps([event, payload])
        except (orjson.JSONEncodeError, TypeError):
            text = json.dumps([event, payload], separators=(",", ":"))
            return EVENT_PREFIX + text.encode()

    def _send(self, sockets: Iterable[Any], event: str, payload: Any, weight: int = 1) -> None:
        """Send one frame to each socket (`_offer`)."""
        pkt = LivePacket(self.encode(event, payload), weight)
        for socket in sockets:
            self._offer(socket, pkt)

    def _send_frames(self, audiences: list[tuple[Any, ...]], frames: list[bytes]) -> None:
        """Send each socket its frames of one drain, in order, as one packet (`_offer`).

        `audiences[i]` are the recipients of `frames[i]`; usually every frame has the same
        recipients, and they share one packet.
        """
        audience = audiences[0]
        if audiences.count(audience) == len(audiences):
            pkt = LivePacket.joined(frames)
            for socket in audience:
                self._offer(socket, pkt)
            return
        per_socket: dict[Any, list[bytes]] = {}
        for sockets, frame in zip(audiences, frames, strict=True):
            for socket in sockets:
                own = per_socket.get(socket)
                if own is None:
                    per_socket[socket] = [frame]
                else:
                    own.append(frame)
        for socket, own in per_socket.items():
            self._offer(socket, LivePacket.joined(own))

    def _offer(self, socket: Any, pkt: LivePacket) -> None:
        """Write `pkt` to the socket at once when its writer is idle (`write_now`), queue it
        otherwise; drop a socket over its backlog (see the module). A socket still on polling
        gets one queue item per engine.io packet, as engine.io's polling payloads expect."""
        if socket.closing or socket.closed:
            return
        queue: SendQueue = socket.queue
        backlog = queue.events + pkt.weight
        if backlog > self.max_backlog and (
            backlog > self.hard_backlog
            or (not queue.empty() and time.monotonic() - queue.progress > self.stall_grace)
        ):
            self._drop(socket)
        elif write_now(socket, pkt):
            return
        elif pkt.message.count == 1 or socket.upgraded:
            queue.put_nowait(pkt)
        else:
            for frame in pkt.message.frames():
                queue.put_nowait(LivePacket.joined([frame]))

    def _drop(self, socket: Any) -> None:
        """Free a slow client's backlog and close it without waiting for it to read anything."""
        waiting = socket.queue.events
        logger.warning("dropping Socket.IO client %s: %d events waiting", socket.sid, waiting)
        queue: SendQueue = socket.queue
        queue.discard_all()
        queue.put_nowait(None)  # the engine.io writer stops and closes the transport
        socket.closing = True  # no more events for it, even before `close` runs
        if self.on_drop is not None:
            self.on_drop()

        async def close() -> None:
            socket.closing = False  # let `close` trigger the disconnect handlers once
            await socket.close(wait=False, abort=True)

        task = asyncio.get_running_loop().create_task(close())
        _background.add(task)
        task.add_done_callback(_background.discard)

    def cancel_tick(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._pending.clear()


class BoundedRedisFanout(socketio.AsyncRedisManager, BoundedFanout):  # type: ignore[misc]
    """The Redis manager; its local delivery (`super().emit` inside it) is `BoundedFanout.emit`."""


_background: set[asyncio.Task[None]] = set()
