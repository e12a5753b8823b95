"""The Socket.IO plugin: live events for dashboards on the API's own port (`/socket.io`).

Ingestion only appends messages to a bounded list (never awaits a client): `Accepted` results
from the general path, `LiveReading` tuples from the fast path (ingest/readings.py), a whole
read's readings in one call. A drain turns each `Accepted` into its `mqtt-message` dict
(`mqtt_message`) and hands them, with the readings as they are (the fan-out builds their frames
from the tuples, `live/events.py::reading_packet`), to the client manager
(`sensorhub.live.fanout`), which sends every client what its connect `auth` asked for
(docs/live-events.md) without awaiting: no task wakes up per message.
The drain runs at most once per send tick while per-message clients are connected (the first
event after a quiet tick at once), and once per batch tick, `batch_interval` after the first
event, while only batched clients are: evenly paced messages, one per loop iteration, are
drained, encoded and written together rather than one by one. The send tick is `SEND_TICK`
(1 ms), or `BUSY_TICK` (4 ms) after a drain whose events arrived at `BUSY_RATE` (3,000 a
second) or more, so that a socket write carries about 20 events at 5,000 msg/s rather than 5.
When the list is full the newest events are dropped and counted. With `REDIS_URL` a task
publishes each drain through python-socketio's Redis manager (as dicts), and every instance
runs the same local fan-out for its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from socketio.exceptions import ConnectionRefusedError as Refuse

from sensorhub.config import Settings
from sensorhub.ingest.messages import Accepted
from sensorhub.ingest.readings import LiveReading
from sensorhub.live.access import Refused, module_ids, origin_check, parse_auth, reads_allowed
from sensorhub.live.engine import SocketIOServer
from sensorhub.live.events import LiveMessage, live_message, mqtt_message
from sensorhub.live.fanout import (
    BUSY_RATE,
    BUSY_TICK,
    CONFIG,
    LIVE,
    NAMESPACE,
    SEND_TICK,
    BoundedFanout,
    BoundedRedisFanout,
)
from sensorhub.live.lag import LoopLagMonitor
from sensorhub.metrics import Metrics

logger = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
"""Live events waiting for the next drain (one per event-loop iteration) before new ones drop."""
BATCH = 256
"""With Redis: messages per publish."""
SHARED_DRAINS = 100
"""With Redis: drains waiting for the publishing task before new ones drop."""

Pending = Accepted | LiveReading | dict[str, Any]
"""A live event waiting for the drain: a message's (`live_message`) or a `config-update`."""


class SocketIOPlugin:
    """Owns the `AsyncServer`, the client manager, the broadcast queue and the lag monitor."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._shared = bool(settings.redis_url)
        manager = BoundedRedisFanout(settings.redis_url) if settings.redis_url else BoundedFanout()
        manager.on_drop = metrics.socketio_clients_dropped.inc
        manager.batch_interval = settings.live_batch_interval
        self.manager: BoundedFanout = manager
        self.server = SocketIOServer(
            async_mode="asgi",
            cors_allowed_origins=origin_check(settings.cors_origins),
            client_manager=manager,
            logger=False,
            engineio_logger=False,
        )
        self._pending: list[Pending] = []
        self._scheduled = False
        self._last_drain = float("-inf")
        self._send_tick = SEND_TICK
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shared_queue: asyncio.Queue[list[Pending]] = asyncio.Queue(SHARED_DRAINS)
        self._task: asyncio.Task[None] | None = None
        self._clients = 0
        self.lag = LoopLagMonitor(metrics.registry)
        self._register_handlers()

    @property
    def clients(self) -> int:
        """Socket.IO clients connected to this instance."""
        return self._clients

    def listening(self) -> bool:
        """Whether `publish_message` has anyone to tell (clients here, or other instances')."""
        return self._shared or self._clients > 0

    def _register_handlers(self) -> None:
        self.server.on("connect", self._on_connect)
        self.server.on("disconnect", self._on_disconnect)
        self.server.on("subscribe", self._on_subscribe)
        self.server.on("unsubscribe", self._on_unsubscribe)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse a bad `auth` or a missing token; register what the client asked for."""
        try:
            options = parse_auth(auth)
        except Refused as error:
            raise Refuse(str(error)) from None
        if not reads_allowed(self._settings, options.token):
            raise Refuse("unauthorized: a valid token is required in auth.token")
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        self.manager.register(sid, eio_sid, options)
        self._clients += 1
        self._metrics.socketio_clients.set(self._clients)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.manager.unregister(sid)
        self._clients = max(0, self._clients - 1)
        self._metrics.socketio_clients.set(self._clients)

    async def _on_subscribe(self, sid: str, ids: Any = None) -> dict[str, Any]:
        """Receive only these modules' events from now on (adds to earlier subscriptions)."""
        modules = module_ids(ids)
        options = self.manager.options(sid)
        if modules is None or options is None:
            return {"ok": False, "error": "expected a list of module ids"}
        self.manager.set_modules(sid, (options.modules or frozenset()) | frozenset(modules))
        return {"ok": True, "modules": modules}

    async def _on_unsubscribe(self, sid: str, ids: Any = None) -> dict[str, Any]:
        """Stop receiving these modules; with no module left, receive everything again."""
        modules = module_ids(ids)
        options = self.manager.options(sid)
        if modules is None or options is None:
            return {"ok": False, "error": "expected a list of module ids"}
        self.manager.set_modules(sid, (options.modules or frozenset()) - frozenset(modules))
        return {"ok": True, "modules": modules}

    def publish_message(self, accepted: Accepted) -> None:
        """Queue a handled message's live events without waiting (called on the ingest path)."""
        self._enqueue(accepted)

    def publish_readings(self, readings: list[LiveReading]) -> None:
        """Queue the live events of fast-path readings, in order, without waiting (called on
        the ingest path, a socket read's readings at a time; `LiveReadings`)."""
        if not self._shared and self._clients == 0:
            return
        room = QUEUE_SIZE - len(self._pending)
        if self._loop is None or room <= 0:
            self._metrics.events_dropped.inc(len(readings))
            return
        if len(readings) > room:
            self._metrics.events_dropped.inc(len(readings) - room)
            readings = readings[:room]
        self._pending.extend(readings)
        if not self._scheduled:
            self._schedule(self._loop)

    def publish_config_update(self, module_id: str, config: dict[str, Any]) -> None:
        """Queue a `config-update` event (called after the API changed a module's configuration)."""
        self._enqueue({"moduleId": module_id, "config": config})

    def _enqueue(self, body: Pending) -> None:
        if not self._shared and self._clients == 0:
            return  # nobody to tell; with Redis, other instances may have clients
        if self._loop is None or len(self._pending) >= QUEUE_SIZE:
            self._metrics.events_dropped.inc()
            return
        self._pending.append(body)
        if not self._scheduled:
            self._schedule(self._loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the drain once the tick allows (see the module)."""
        self._scheduled = True
        now = loop.time()
        if self._shared or self.manager.per_message_clients:
            due = self._last_drain + self._send_tick
        else:
            due = now + self.manager.batch_interval
        if due > now:
            loop.call_at(due, self._drain)
        else:
            loop.call_soon(self._drain)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._shared:
            self._task = asyncio.create_task(self._publish_shared(), name="socketio-broadcast")
        self.lag.start()

    async def stop(self) -> None:
        await self.lag.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._loop = None
        self.manager.cancel_tick()
        with contextlib.suppress(Exception):
            await self.server.shutdown()

    def _drain(self) -> None:
        """Everything ingested since the last drain, fanned out in arrival order (see the module).

        Locally the fan-out never awaits, so it runs right here (no task to wake per message);
        with Redis the drain goes to the task that publishes it.
        """
        self._scheduled = False
        items, self._pending = self._pending, []
        if self._loop is not None:
            now = self._loop.time()
            busy = len(items) >= BUSY_RATE * max(now - self._last_drain, SEND_TICK)
            self._send_tick = BUSY_TICK if busy else SEND_TICK
            self._last_drain = now
        if self._shared:
            try:
                self._shared_queue.put_nowait(items)
            except asyncio.QueueFull:
                self._metrics.events_dropped.inc(len(items))
            return
        try:
            messages: list[LiveMessage] = []
            for body in items:
                if isinstance(body, tuple):  # a fast-path reading: the fan-out encodes it as is
                    messages.append(body)
                elif not isinstance(body, dict):
                    messages.append(mqtt_message(body))
                else:  # keep the order: what came before the config update goes first
                    self.manager.deliver(messages)
                    messages = []
                    self.manager.deliver_config(body)
            self.manager.deliver(messages, flush_batches=not self.manager.per_message_clients)
        except Exception:
            logger.exception("cannot broadcast live events")

    async def _publish_shared(self) -> None:
        """With Redis: publish each drain (in chunks of `BATCH`) for every instance's fan-out."""
        emit = self.manager.emit
        while True:
            items = await self._shared_queue.get()
            messages: list[dict[str, Any]] = []
            for body in items:
                try:
                    if not isinstance(body, dict):
                        messages.append(live_message(body))
                        if len(messages) >= BATCH:
                            await emit(LIVE, messages, NAMESPACE)
                            messages = []
                    else:  # keep the order: what came before the config update goes first
                        if messages:
                            await emit(LIVE, messages, NAMESPACE)
                            messages = []
                        await emit(CONFIG, body, NAMESPACE)
                except Exception:
                    logger.exception(
                        "cannot broadcast %s", CONFIG if isinstance(body, dict) else LIVE
                    )
            if messages:
                try:
                    await emit(LIVE, messages, NAMESPACE)
                except Exception:
                    logger.exception("cannot broadcast live events")
