"""The live fan-out without a network: audiences, encodes per tick, auth parsing, origins."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from socketio import packet as sio_packet

from sensorhub.config import Settings
from sensorhub.deps import token_grants
from sensorhub.live.access import ClientOptions, Refused, origin_check, parse_auth
from sensorhub.live.coalesce import TextFrame, text_frame
from sensorhub.live.engine import LivePacket, SocketIOServer, event_frame
from sensorhub.live.events import iso_utc, mqtt_data
from sensorhub.live.fanout import LIVE, BoundedFanout
from tests.support import FakeSocket


@pytest.fixture
def fanout() -> tuple[BoundedFanout, list[str]]:
    """A manager inside a real server; `encodes` lists the event name of every packet encoded."""
    manager = BoundedFanout()
    SocketIOServer(async_mode="asgi", client_manager=manager)
    encodes: list[str] = []
    encode = manager.encode

    def counting(event: str, payload: Any) -> bytes:
        encodes.append(event)
        data = encode(event, payload)
        assert data.decode() == sio_packet.Packet(data=[event, payload]).encode()  # socketio's
        return data

    manager.encode = counting  # type: ignore[method-assign]
    return manager, encodes


def connect(manager: BoundedFanout, sid: str, options: ClientOptions) -> FakeSocket:
    socket = FakeSocket(sid)
    manager.server.eio.sockets[f"e-{sid}"] = socket
    manager.register(sid, f"e-{sid}", options)
    return socket


def message(module_id: str, value: float, kind: str = "measurement") -> dict[str, Any]:
    return {
        "topic": f"{module_id}/co2",
        "moduleId": module_id,
        "kind": kind,
        "value": value,
        "metadata": None,
        "time": "2026-01-01T00:00:00Z",
    }


async def test_one_frame_per_batched_client_per_tick_encoded_once_per_audience(
    fanout: tuple[BoundedFanout, list[str]],
) -> None:
    manager, encodes = fanout
    manager.batch_interval = 3600  # flushed by hand below
    everything = [connect(manager, f"all{i}", ClientOptions(batch=True)) for i in range(3)]
    only_a = [
        connect(manager, f"a{i}", ClientOptions(batch=True, modules=frozenset({"a"})))
        for i in range(2)
    ]
    a_and_b = connect(manager, "ab", ClientOptions(batch=True, modules=frozenset({"a", "b"})))
    only_c = connect(manager, "c", ClientOptions(batch=True, modules=frozenset({"c"})))

    await manager.emit(LIVE, [message("a", 1), message("b", 2)], "/")
    await manager.emit(LIVE, [message("a", 3)], "/")
    await manager.emit(LIVE, [message("d", 4)], "/")
    assert encodes == []  # nothing per message for batched clients
    manager._flush_batches()

    assert encodes == ["mqtt:batch"] * 3  # all, {a}, {a, b}; {c} had nothing this tick
    for socket in everything:
        [(name, batch)] = socket.frames()
        assert (name, [m["value"] for m in batch]) == ("mqtt:batch", [1, 2, 3, 4])
    for socket in only_a:
        assert [[m["value"] for m in b] for _, b in socket.frames()] == [[1, 3]]
    assert [[m["value"] for m in b] for _, b in a_and_b.frames()] == [[1, 2, 3]]
    assert only_c.frames() == []


async def test_per_message_events_are_encoded_once_whatever_the_clients(
    fanout: tuple[BoundedFanout, list[str]],
) -> None:
    manager, encodes = fanout
    seed = [connect(manager, f"s{i}", ClientOptions()) for i in range(5)]
    own = [
        connect(manager, f"o{i}", ClientOptions(events=frozenset({"mqtt-message"})))
        for i in range(5)
    ]
    both = connect(manager, "both", ClientOptions(events=frozenset({"mqtt-message", "mqtt:data"})))
    following_b = connect(manager, "b", ClientOptions(modules=frozenset({"b"})))

    await manager.emit(LIVE, [message("a", 1), message("a", 2, kind="log")], "/")
    # measurement: one mqtt:data + one mqtt-message; log: one mqtt-message, no mqtt:data
    assert sorted(encodes) == ["mqtt-message", "mqtt-message", "mqtt:data"]
    for socket in seed:
        assert [(n, d["value"]) for n, d in socket.frames()] == [("mqtt:data", 1)]
    for socket in own:
        assert [(n, d["value"]) for n, d in socket.frames()] == [
            ("mqtt-message", 1),
            ("mqtt-message", 2),
        ]
    assert [n for n, _ in both.frames()] == ["mqtt:data", "mqtt-message", "mqtt-message"]
    assert following_b.frames() == []

    manager.set_modules("b", None)  # unsubscribing from everything means every module again
    await manager.emit(LIVE, [message("a", 5)], "/")
    assert [(n, d["value"]) for n, d in following_b.frames()] == [("mqtt:data", 5)]


async def test_a_stalled_client_over_its_backlog_is_dropped_after_the_grace(
    fanout: tuple[BoundedFanout, list[str]],
) -> None:
    manager, _ = fanout
    manager.max_backlog, manager.stall_grace = 3, 0.0
    drops: list[int] = []
    manager.on_drop = lambda: drops.append(1)
    slow = connect(manager, "slow", ClientOptions())
    slow.close = _no_close  # type: ignore[attr-defined]
    for n in range(5):
        await manager.emit(LIVE, [message("a", n)], "/")
    assert drops == [1] and slow.closing
    await asyncio.sleep(0)


async def test_a_burst_over_the_backlog_is_kept_while_the_writer_takes(
    fanout: tuple[BoundedFanout, list[str]],
) -> None:
    """A client whose writer keeps taking survives a burst above `max_backlog` (the broker
    delivers thousands of messages at once after a flush), up to `hard_backlog`."""
    manager, _ = fanout
    manager.max_backlog, manager.hard_backlog, manager.stall_grace = 3, 8, 3600.0
    drops: list[int] = []
    manager.on_drop = lambda: drops.append(1)
    reader = connect(manager, "reader", ClientOptions())
    reader.close = _no_close  # type: ignore[attr-defined]
    await manager.emit(LIVE, [message("a", n) for n in range(8)], "/")
    assert not drops and reader.queue.events == 8
    assert [d["value"] for _, d in reader.frames()] == list(range(8))
    await manager.emit(LIVE, [message("a", n) for n in range(9)], "/")  # past the hard bound
    assert drops == [1] and reader.closing
    await asyncio.sleep(0)


async def test_a_batched_client_is_bounded_by_the_events_its_frames_carry(
    fanout: tuple[BoundedFanout, list[str]],
) -> None:
    manager, _ = fanout
    manager.batch_interval = 3600
    manager.max_backlog, manager.stall_grace = 10, 0.0
    drops: list[int] = []
    manager.on_drop = lambda: drops.append(1)
    slow = connect(manager, "slow", ClientOptions(batch=True))
    slow.close = _no_close  # type: ignore[attr-defined]
    await manager.emit(LIVE, [message("a", n) for n in range(6)], "/")
    manager._flush_batches()
    assert slow.queue.qsize() == 1 and slow.queue.events == 6 and not drops
    await manager.emit(LIVE, [message("a", n) for n in range(6)], "/")
    manager._flush_batches()  # 12 events would wait in 2 frames: over the bound of 10
    assert drops == [1] and slow.closing and slow.queue.events == 0
    await asyncio.sleep(0)


async def _no_close(**_: Any) -> None:
    return None


def test_mqtt_data_follows_the_node_backend() -> None:
    status = message("m", 0, kind="sensor_status") | {"value": None}
    nested = {"moduleType": "air", "sensors": {"co2": {"status": "ok"}}}
    assert mqtt_data(status | {"metadata": nested})["metadata"] == nested["sensors"]  # type: ignore[index]
    flat = {"co2": {"status": "ok"}}
    assert mqtt_data(status | {"metadata": flat})["metadata"] == flat  # type: ignore[index]
    assert mqtt_data(message("m", 1, kind="log")) is None
    assert mqtt_data(message("m", 1)) == {
        "topic": "m/co2",
        "value": 1,
        "time": "2026-01-01T00:00:00Z",
        "metadata": None,
    }


def test_parse_auth() -> None:
    assert parse_auth(None) == ClientOptions()
    assert parse_auth({}).events == frozenset({"mqtt:data"})
    options = parse_auth({"token": "t", "modules": ["a", "a", "b"], "batch": True})
    assert (options.token, options.modules, options.batch) == ("t", frozenset({"a", "b"}), True)
    assert parse_auth({"modules": []}).modules is None
    for bad in ("x", {"token": 1}, {"batch": 1}, {"modules": [""]}, {"events": ["nope"]}):
        with pytest.raises(Refused):
            parse_auth(bad)


def test_origin_check() -> None:
    assert origin_check(["*"]) == "*"
    check = origin_check(["http://dash.example/"])
    assert callable(check)
    environ = {"HTTP_HOST": "hub:8000", "wsgi.url_scheme": "http"}
    assert check("http://hub:8000", environ)
    assert check("http://dash.example", environ)
    assert not check("http://evil.example", environ)
    assert not check("https://hub:8000", environ)
    assert check("https://hub:8000", environ | {"wsgi.url_scheme": "https"})


def test_token_grants() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert token_grants(settings, None, write=False) and token_grants(settings, None, write=True)
    settings.sensorhub_read_token = SecretStr("r")
    assert token_grants(settings, "r", write=False)
    assert not token_grants(settings, None, write=False)
    assert token_grants(settings, None, write=True)  # no write token: writes follow their rule
    settings.sensorhub_api_token = SecretStr("w")
    assert token_grants(settings, "w", write=False) and token_grants(settings, "w", write=True)
    assert not token_grants(settings, "r", write=True)
    assert not token_grants(settings, "", write=False)


def test_iso_utc() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from sensorhub.live.events import iso_utc

    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert iso_utc(moment) == "2026-01-02T03:04:05.123456Z"
    assert iso_utc(moment.replace(microsecond=0)) == "2026-01-02T03:04:05Z"
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert iso_utc(paris) == "2026-01-02T03:04:05.123456Z"


@given(st.datetimes(timezones=st.just(UTC)))
def test_iso_utc_is_isoformat_with_z(moment: datetime) -> None:
    assert iso_utc(moment) == moment.isoformat().replace("+00:00", "Z")


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_frames_decode_to_what_python_socketio_would_send(payload: Any) -> None:
    """orjson's frame (or json's, for integers beyond 64 bits) is the same JSON document.

    Finite numbers only: json writes `Infinity`, which a browser's JSON.parse refuses; orjson
    writes null."""
    manager = BoundedFanout()
    text = manager.encode("mqtt-message", payload).decode()
    expected = sio_packet.Packet(data=["mqtt-message", payload]).encode()
    assert text[0] == expected[0] == "2"
    assert json.loads(text[1:]) == json.loads(expected[1:])


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1023, 1024, 65535, 65536])
def test_prebuilt_frames_are_the_frames_websockets_would_send(size: int) -> None:
    """A server's unmasked text frame, as websockets serializes it, at each header boundary;
    joined frames give back their texts and frames in order."""
    from websockets.frames import Frame, Opcode

    text = ("é" * size)[: size // 2] + "x" * (size - 2 * (size // 2))  # `size` UTF-8 bytes
    data = text.encode()
    assert len(data) == size
    frame = text_frame(data)
    assert frame == Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    joined = TextFrame.joined([frame, text_frame(b"ab"), frame])
    assert joined.texts() == [text, "ab", text] and joined.text == text
    assert joined.frames() == [frame, text_frame(b"ab"), frame] and joined.count == 3


def test_a_drains_packet_polls_as_engineio_would_send_its_packets() -> None:
    """On the polling transport a joined packet is the payload engine.io makes of its packets."""
    from engineio import packet as eio_packet
    from engineio import payload as eio_payload

    texts = ['2["mqtt-message",{"value":1}]', '2["mqtt-message",{"value":"é"}]']
    joined = LivePacket.joined([event_frame(t.encode()) for t in texts])
    packets = [eio_packet.Packet(eio_packet.MESSAGE, data=t) for t in texts]
    assert eio_payload.Payload(packets=[joined]).encode() == (
        eio_payload.Payload(packets=packets).encode()
    )
    assert joined.weight == 2 and joined.data == texts[0]
