"""Live events leave as prebuilt WebSocket frames (live/coalesce.py's `FRAMES_EXTENSION`).

Guards the private uvicorn and engine.io parts the fast path relies on, with real clients: if
engine.io stops taking its WebSocket class from its driver table, uvicorn stops passing the scope
extension, or their attributes change, the frames fall back to `websocket.send` (counted here) or
fail to arrive.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import socketio

from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.live.coalesce import CoalescingWebSocketProtocol, TextFrame
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
    """Counts live texts written as prebuilt frames and those sent through `websocket.send`."""
    counts = {"framed": 0, "sent": 0}
    send_framed, send = CoalescingWebSocketProtocol.send_framed, CoalescingWebSocketProtocol.send

    async def counting_framed(self: Any, message: TextFrame) -> None:
        counts["framed"] += 1
        await send_framed(self, message)

    async def counting_send(self: Any, message: Any) -> None:
        if message.get("type") == "websocket.send" and "frames-1" in (message.get("text") or ""):
            counts["sent"] += 1
        await send(self, message)

    monkeypatch.setattr(CoalescingWebSocketProtocol, "send_framed", counting_framed)
    monkeypatch.setattr(CoalescingWebSocketProtocol, "send", counting_send)
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
