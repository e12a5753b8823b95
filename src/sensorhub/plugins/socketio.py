"""The Socket.IO plugin: live events for dashboards on the API's own port (`/socket.io`).

Ingestion only puts events on a bounded queue (never awaits a client); a broadcaster task emits
them. When the queue is full the newest events are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC
from typing import Any

import socketio

from sensorhub.config import Settings
from sensorhub.ingest.messages import Accepted
from sensorhub.metrics import Metrics

logger = logging.getLogger(__name__)

EVERYONE = "all"
QUEUE_SIZE = 10_000


def module_room(module_id: str) -> str:
    return f"module:{module_id}"


def live_event(accepted: Accepted) -> dict[str, Any]:
    """The `mqtt-message` payload for a handled message (SPEC §5)."""
    return {
        "topic": accepted.topic,
        "moduleId": accepted.module_id,
        "kind": accepted.kind.value,
        "value": accepted.value,
        "metadata": dict(accepted.metadata) if accepted.metadata is not None else None,
        "time": accepted.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


class SocketIOPlugin:
    """Owns the `AsyncServer`, its rooms and the broadcast queue."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._metrics = metrics
        manager = None
        if settings.redis_url:
            manager = socketio.AsyncRedisManager(settings.redis_url)
        origins: Any = "*" if "*" in settings.cors_origins else settings.cors_origins
        self.server = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=origins,
            client_manager=manager,
            logger=False,
            engineio_logger=False,
        )
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], list[str] | None]] = asyncio.Queue(
            QUEUE_SIZE
        )
        self._task: asyncio.Task[None] | None = None
        self._clients = 0
        self._register_handlers()

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
        """Receive only these modules' events from now on."""
        ids = _module_ids(module_ids)
        if ids is None:
            return {"ok": False, "error": "expected a list of module ids"}
        await self.server.leave_room(sid, EVERYONE)
        for module_id in ids:
            await self.server.enter_room(sid, module_room(module_id))
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
        self._enqueue(
            "mqtt-message", live_event(accepted), [EVERYONE, module_room(accepted.module_id)]
        )

    def publish_config_update(self, module_id: str, config: dict[str, Any]) -> None:
        self._enqueue(
            "config-update",
            {"moduleId": module_id, "config": config},
            [EVERYONE, module_room(module_id)],
        )

    def _enqueue(self, event: str, data: dict[str, Any], rooms: list[str] | None) -> None:
        try:
            self._queue.put_nowait((event, data, rooms))
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
        while True:
            event, data, rooms = await self._queue.get()
            try:
                await self.server.emit(event, data, to=rooms)
            except Exception:
                logger.exception("cannot broadcast %s", event)


def _module_ids(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return None
    return list(dict.fromkeys(value))[:1000]
