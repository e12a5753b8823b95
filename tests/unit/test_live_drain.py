"""When the Socket.IO plugin drains the live events it holds: per send tick, or per batch tick."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sensorhub.config import Settings
from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.live.access import ClientOptions
from sensorhub.metrics import Metrics
from sensorhub.plugins import socketio as plugin_module
from sensorhub.plugins.socketio import SocketIOPlugin
from tests.support import FakeSocket


def reading(value: float) -> Accepted:
    return Accepted(
        topic="tick-1/co2",
        module_id="tick-1",
        kind=MessageKind.MEASUREMENT,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        value=value,
    )


async def started(options: ClientOptions) -> tuple[SocketIOPlugin, FakeSocket]:
    plugin = SocketIOPlugin(Settings(), Metrics())
    socket = FakeSocket("s")
    plugin.manager.server.eio.sockets["e-s"] = socket
    plugin.manager.register("s", "e-s", options)
    plugin._clients = 1
    await plugin.start()
    return plugin, socket


async def iterations(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_per_message_events_after_the_first_wait_for_the_send_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first event after a quiet tick leaves in the next loop iteration; those that follow
    within the tick leave together when it ends (here the tick never ends by itself)."""
    monkeypatch.setattr(plugin_module, "SEND_TICK", 3600.0)
    plugin, socket = await started(ClientOptions(events=frozenset({"mqtt-message"})))
    try:
        plugin.publish_message(reading(1))
        await iterations(2)
        assert [d["value"] for _, d in socket.frames()] == [1]
        for value in (2, 3, 4):  # one per loop iteration, as evenly paced traffic arrives
            plugin.publish_message(reading(value))
            await iterations(2)
        assert socket.frames() == []
        plugin._drain()  # the tick's end
        assert [d["value"] for _, d in socket.frames()] == [2, 3, 4]
    finally:
        await plugin.stop()


async def test_only_batched_clients_drain_once_per_batch_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With only batched clients the drain is the batch tick: its frame leaves with the drain."""
    plugin, socket = await started(ClientOptions(batch=True))
    plugin.manager.batch_interval = 3600.0
    try:
        for value in (1, 2, 3):
            plugin.publish_message(reading(value))
            await iterations(2)
        assert socket.frames() == []
        plugin._drain()  # the batch tick's end
        [(name, batch)] = socket.frames()
        assert (name, [m["value"] for m in batch]) == ("mqtt:batch", [1, 2, 3])
    finally:
        await plugin.stop()
