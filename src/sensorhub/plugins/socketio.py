"""The Socket.IO plugin: live events for dashboards on the API's own port (`/socket.io`).

Ingestion only puts events on a bounded queue (never awaits a client); a broadcaster task emits
them. When the queue is full the newest events are dropped and counted.

Fan-out: python-socketio's own `emit` creates one task per recipient and per event and awaits
them all, and engine.io keeps an *unbounded* outgoing queue per client whose writer moves the
whole queue into a private list before sending, so a client that stops reading would make the
server buffer for it forever, out of sight. Here each client's queue is a `SendQueue`, from which
the writer takes at most `WRITER_TAKE` packets at a time (the rest of the backlog stays countable),
and the client manager encodes each event once and puts the packet on every recipient's queue
without awaiting; a client whose backlog reaches `MAX_CLIENT_BACKLOG` packets is dropped (its
backlog freed, its connection closed). Behind the writer only the transport's own bounded buffers
remain (uvicorn pauses the writer above 64 KiB). With `REDIS_URL` the same local fan-out runs
under python-socketio's Redis manager, so events emitted on any instance reach the clients of
every instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from sensorhub.config import Settings
from sensorhub.http_guard import socketio_origin_check
from sensorhub.ingest.messages import Accepted
from sensorhub.metrics import Metrics

logger = logging.getLogger(__name__)

EVERYONE = "all"
QUEUE_SIZE = 10_000
MAX_CLIENT_BACKLOG = 5_000
"""Packets waiting for one client before it is dropped (~1 s of traffic at 5,000 msg/s)."""
BATCH = 64
"""Events emitted before the broadcaster yields to the event loop (writers and ingestion)."""
WRITER_TAKE = 64
"""Packets engine.io's writer takes from a client's queue at once."""

Body = Accepted | dict[str, Any]


def module_room(module_id: str) -> str:
    return f"module:{module_id}"


def live_event(accepted: Accepted) -> dict[str, Any]:
    """The `mqtt-message` payload for a handled message (docs/contract.md §5)."""
    return {
        "topic": accepted.topic,
        "moduleId": accepted.module_id,
        "kind": accepted.kind.value,
        "value": accepted.value,
        "metadata": dict(accepted.metadata) if accepted.metadata is not None else None,
        "time": accepted.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


class SendQueue(asyncio.Queue[Any]):
    """A client's outgoing engine.io queue; its writer takes at most `WRITER_TAKE` at a time.

    engine.io's `poll()` awaits `get()` once, then calls `get_nowait()` until the queue is empty.
    """

    def __init__(self) -> None:
        super().__init__()
        self._taken = 0

    async def get(self) -> Any:
        self._taken = 0
        return await super().get()

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


class _EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        return SendQueue()


class _SocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIOServer


class BoundedFanout(socketio.AsyncManager):  # type: ignore[misc]
    """Local delivery without awaiting clients, dropping clients whose backlog is too long.

    A client in several target rooms gets an event once (`get_participants` merges the rooms
    into one dict keyed by sid).
    """

    max_backlog: int = MAX_CLIENT_BACKLOG
    on_drop: Callable[[], None] | None = None

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
        if callback is not None:  # acknowledgements need a packet per client: the stock path
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )
            return
        namespace = namespace or "/"
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        packets = [
            eio_packet.Packet(eio_packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closing or socket.closed:
                continue
            queue: asyncio.Queue[Any] = socket.queue
            if queue.qsize() + len(packets) > self.max_backlog:
                self._drop(socket, sid)
                continue
            for pkt in packets:
                queue.put_nowait(pkt)

    def _drop(self, socket: Any, sid: str) -> None:
        """Free a slow client's backlog and close it without waiting for it to read anything."""
        logger.warning(
            "dropping Socket.IO client %s: %d events waiting for it", sid, socket.queue.qsize()
        )
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


class BoundedRedisFanout(socketio.AsyncRedisManager, BoundedFanout):  # type: ignore[misc]
    """The Redis manager; its local delivery (`super().emit` inside it) is `BoundedFanout.emit`."""


_background: set[asyncio.Task[None]] = set()


class SocketIOPlugin:
    """Owns the `AsyncServer`, its rooms and the broadcast queue."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._metrics = metrics
        self._shared = bool(settings.redis_url)
        manager = BoundedRedisFanout(settings.redis_url) if settings.redis_url else BoundedFanout()
        manager.on_drop = metrics.socketio_clients_dropped.inc
        self.manager = manager
        origins: Any = socketio_origin_check(settings)  # same rule as HTTP (sensorhub.http_guard)
        self.server = _SocketIOServer(
            async_mode="asgi",
            cors_allowed_origins=origins,
            client_manager=manager,
            logger=False,
            engineio_logger=False,
        )
        self._queue: asyncio.Queue[tuple[str, Body, list[str]]] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._clients = 0
        self._register_handlers()

    @property
    def clients(self) -> int:
        """Socket.IO clients connected to this instance."""
        return self._clients

    def _register_handlers(self) -> None:
        self.server.on("connect", self._on_connect)
        self.server.on("disconnect", self._on_disconnect)
        self.server.on("subscribe", self._on_subscribe)
        self.server.on("unsubscribe", self._on_unsubscribe)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.server.enter_room(sid, EVERYONE)
        self._clients += 1
        self._metrics.socketio_clients.set(self._clients)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._clients = max(0, self._clients - 1)
        self._metrics.socketio_clients.set(self._clients)

    async def _on_subscribe(self, sid: str, module_ids: Any = None) -> dict[str, Any]:
        """Receive only these modules' events from now on (adds to earlier subscriptions)."""
        ids = _module_ids(module_ids)
        if ids is None:
            return {"ok": False, "error": "expected a list of module ids"}
        for module_id in ids:
            await self.server.enter_room(sid, module_room(module_id))
        await self.server.leave_room(sid, EVERYONE)
        return {"ok": True, "modules": ids}

    async def _on_unsubscribe(self, sid: str, module_ids: Any = None) -> dict[str, Any]:
        """Stop receiving these modules; with no module left, receive everything again."""
        ids = _module_ids(module_ids)
        if ids is None:
            return {"ok": False, "error": "expected a list of module ids"}
        for module_id in ids:
            await self.server.leave_room(sid, module_room(module_id))
        if not any(room.startswith("module:") for room in self.server.rooms(sid)):
            await self.server.enter_room(sid, EVERYONE)
        return {"ok": True, "modules": ids}

    def publish_message(self, accepted: Accepted) -> None:
        """Queue an `mqtt-message` event without waiting (called on the ingest path)."""
        self._enqueue("mqtt-message", accepted, accepted.module_id)

    def publish_config_update(self, module_id: str, config: dict[str, Any]) -> None:
        """Queue a `config-update` event (called after the API changed a module's configuration)."""
        self._enqueue("config-update", {"moduleId": module_id, "config": config}, module_id)

    def _enqueue(self, event: str, body: Body, module_id: str) -> None:
        if not self._shared and self._clients == 0:
            return  # nobody to tell; with Redis, other instances may have clients
        try:
            self._queue.put_nowait((event, body, [EVERYONE, module_room(module_id)]))
        except asyncio.QueueFull:
            self._metrics.events_dropped.inc()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._broadcast(), name="socketio-broadcast")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.server.shutdown()

    async def _broadcast(self) -> None:
        queue = self._queue
        emit = self.server.emit
        while True:
            event, body, rooms = await queue.get()
            sent = 0
            while True:
                data = live_event(body) if isinstance(body, Accepted) else body
                try:
                    await emit(event, data, to=rooms)
                except Exception:
                    logger.exception("cannot broadcast %s", event)
                sent += 1
                if sent >= BATCH or queue.empty():
                    break
                event, body, rooms = queue.get_nowait()
            # a local emit never suspends: give the websocket writers and ingestion their turn
            await asyncio.sleep(0)


def _module_ids(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return None
    return list(dict.fromkeys(value))[:1000]
