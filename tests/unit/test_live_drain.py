"""When the Socket.IO plugin drains the live events it holds: per send tick, or per batch tick."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.config import Settings
from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.live.access import ClientOptions
from sensorhub.live.events import (
    MQTT_MESSAGE,
    iso_utc,
    reading_message,
    reading_packet,
    reading_time,
)
from sensorhub.live.fanout import BoundedFanout
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


async def test_fast_path_readings_leave_as_their_accepted_would_in_arrival_order() -> None:
    """`publish_readings` (the fast path's sink) and `publish_message` share one queue: the
    drain sends the events in the order they came, a reading's event the same as the event of
    the `Accepted` the general path builds for it."""
    plugin, socket = await started(ClientOptions(events=frozenset({"mqtt-message", "mqtt:data"})))
    seconds = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    try:
        plugin.publish_message(reading(1.0))
        plugin.publish_readings([("tick-1/co2", "tick-1", 1.0, seconds)])
        plugin.publish_config_update("tick-1", {"interval": 5})
        plugin.publish_readings([("tick-1/co2", "tick-1", 2.5, seconds + 0.000001)])
        plugin._drain()
        frames = socket.frames()
        assert repr(frames[:2]) == repr(frames[2:4])  # repr: 1 and 1.0 differ
        assert [name for name, _ in frames[4:]] == ["config-update", "mqtt:data", "mqtt-message"]
        assert frames[6][1]["time"] == "2026-01-01T00:00:00.000001Z"
        assert frames[6][1]["value"] == 2.5
    finally:
        await plugin.stop()


async def test_fast_path_readings_leave_byte_for_byte_as_their_accepted_would() -> None:
    """For `mqtt-message` clients a reading's frame is built from its tuple, for batched clients
    its dict at the batch tick: the same bytes, in the same order, as from its `Accepted`."""
    plugin, single = await started(ClientOptions(events=frozenset({"mqtt-message"})))
    batched = FakeSocket("b")
    plugin.manager.server.eio.sockets["e-b"] = batched
    plugin.manager.register("b", "e-b", ClientOptions(batch=True))
    seconds = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    try:
        plugin.publish_message(reading(1.0))
        plugin.publish_readings([("tick-1/co2", "tick-1", 1.0, seconds)])
        plugin.publish_message(reading(2.0))
        plugin.publish_readings([("tick-1/co2", "tick-1", 2.0, seconds)])
        plugin._drain()
        plugin.manager._flush_batches()
        texts = [t for p in _packets(single) for t in p.message.texts()]
        assert len(texts) == 4 and texts[0] == texts[1] and texts[2] == texts[3]
        [batch] = [t for p in _packets(batched) for t in p.message.texts()]
        events = json.loads(batch[2:])[1]
        assert events[0] == events[1] and events[2] == events[3]
        assert repr(events[0]) == repr(events[1])  # repr: 1 and 1.0 differ
    finally:
        await plugin.stop()


def _packets(socket: FakeSocket) -> list[Any]:
    out = []
    while not socket.queue.empty():
        out.append(socket.queue.get_nowait())
        socket.queue._taken = 0
    return out


async def test_fast_path_readings_beyond_the_queue_are_dropped_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plugin_module, "QUEUE_SIZE", 3)
    plugin, socket = await started(ClientOptions(events=frozenset({"mqtt-message"})))
    try:
        plugin.publish_message(reading(0))
        plugin.publish_readings([("tick-1/co2", "tick-1", float(v), 1.7e9) for v in range(1, 5)])
        plugin.publish_readings([("tick-1/co2", "tick-1", 9.0, 1.7e9)])
        plugin._drain()
        assert [d["value"] for _, d in socket.frames()] == [0, 1.0, 2.0]
        dropped = plugin._metrics.registry.get_sample_value(
            "sensorhub_socketio_events_dropped_total"
        )
        assert dropped == 3
    finally:
        await plugin.stop()


@given(
    st.one_of(
        st.integers(0, 2**32 * 10**6 - 1).map(lambda micros: micros / 1e6),
        st.floats(0, 2.0**32, exclude_max=True),
        st.floats(-(2.0**32), 0),
    )
)
def test_a_reading_time_is_the_text_of_its_datetime(seconds: float) -> None:
    """The cached text of a fast-path reading's time is `iso_utc` of `fromtimestamp`, rounding
    included, across the times a batch key holds exactly (`batch.EXACT_SECONDS`)."""
    expected = iso_utc(datetime.fromtimestamp(seconds, UTC))
    assert reading_time(seconds) == expected
    assert reading_time(seconds) == expected  # from the cache


@given(
    st.text(min_size=1),
    st.text(min_size=1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.one_of(
        st.integers(0, 2**32 * 10**6 - 1).map(lambda micros: micros / 1e6),
        st.floats(-(2.0**32), 2.0**32, exclude_max=True),
    ),
)
def test_a_readings_packet_is_the_encoded_mqtt_message_of_its_dict(
    topic: str, module_id: str, value: float, seconds: float
) -> None:
    """The fan-out's frame of a fast-path reading, built from the tuple, is byte for byte the
    engine.io packet of its `mqtt-message` dict as `BoundedFanout.encode` makes it (also when
    the topic's cached start belongs to another module id)."""
    for module in (module_id, module_id + "x", module_id):
        reading = (topic, module, value, seconds)
        encoded = BoundedFanout.encode(None, MQTT_MESSAGE, reading_message(reading))  # type: ignore[arg-type]
        assert reading_packet(reading) == b"4" + encoded
        assert reading_packet(reading) == b"4" + encoded  # from the caches
