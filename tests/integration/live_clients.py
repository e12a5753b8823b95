"""Real python-socketio clients for the live-event tests: every event received, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import socketio

from tests.support import RunningApp

WAIT = 15.0
EVENTS = ("mqtt-message", "mqtt:data", "mqtt:batch", "config-update")
SENSORHUB_EVENTS = {"events": ["mqtt-message"]}
"""The connect `auth` of a client that wants sensorhub's own per-message event."""


class LiveClient:
    """A real `socketio.AsyncClient` that queues every live event it receives."""

    def __init__(self, **client_options: Any) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, **client_options)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.refusal: Any = None
        for name in EVENTS:
            self.sio.on(name, self._handler(name))
        self.sio.on("connect_error", self._refused)

    def _refused(self, data: Any) -> None:
        self.refusal = data

    def _handler(self, name: str) -> Any:
        async def handle(data: Any) -> None:
            self.events.put_nowait((name, data))

        return handle

    async def next(self, event: str = "mqtt-message", timeout: float = WAIT) -> Any:
        """The next event received; fails if it has another name or nothing comes in time."""
        name, data = await asyncio.wait_for(self.events.get(), timeout)
        assert name == event, (name, data)
        return data

    async def subscribe(self, *module_ids: str) -> None:
        ack = await self.sio.call("subscribe", list(module_ids), timeout=WAIT)
        assert ack == {"ok": True, "modules": list(module_ids)}


@contextlib.asynccontextmanager
async def live_client(
    running: RunningApp,
    *,
    transports: list[str] | None = None,
    auth: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[LiveClient]:
    """A connected client; `auth` defaults to asking for `mqtt-message` only."""
    client = LiveClient()
    await client.sio.connect(
        running.base_url,
        transports=transports,
        auth=SENSORHUB_EVENTS if auth is None else auth,
        headers=headers or {},
        wait_timeout=WAIT,
    )
    try:
        yield client
    finally:
        await client.sio.disconnect()


async def refusal(
    running: RunningApp,
    *,
    transports: list[str] | None = None,
    auth: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Connect and expect a refusal; returns what the server said (the `connect_error` data)."""
    client = LiveClient()
    try:
        await client.sio.connect(
            running.base_url,
            transports=transports,
            auth=auth or {},
            headers=headers or {},
            wait_timeout=WAIT,
        )
    except socketio.exceptions.ConnectionError as error:
        return client.refusal or str(error)
    finally:
        await client.sio.disconnect()
        http = getattr(client.sio.eio, "http", None)  # a refused client leaves its session open
        if http is not None and not http.closed:
            await http.close()
    raise AssertionError(f"connected with auth={auth} headers={headers}")


@contextlib.asynccontextmanager
async def serve_on(port: int, **env: str) -> AsyncIterator[RunningApp]:
    """sensorhub on a given port (to restart a server where its clients will look for it)."""
    import httpx
    import uvicorn

    from sensorhub.app import create_app
    from sensorhub.config import Settings
    from tests.support import forget_session, wait_until

    settings = Settings(port=port, **{name.lower(): value for name, value in env.items()})
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout=60, what="server start")
        task.result() if task.done() else None
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield RunningApp(app, base_url, http)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=60)
        if settings.mqtt_url is not None:
            await forget_session(settings.mqtt_url, settings.mqtt_client_id)
