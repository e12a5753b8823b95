"""Real python-socketio clients for the live-event tests: every event received, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import socketio

from tests.support import RunningApp, running_app

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


serve_on = running_app
"""sensorhub on a given port: `serve_on(port, **env)` restarts where its clients look."""
