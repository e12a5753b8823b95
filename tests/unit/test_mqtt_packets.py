"""`plugins/mqtt_packets.split_packets` against a reference built from the packets themselves:
every packet comes out once, in order, PUBLISH at QoS 0/1 without properties as a tuple, the rest
as (command, body); a read cut anywhere consumes exactly the whole packets before the cut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.delivery import Publish
from sensorhub.plugins.mqtt_packets import split_packets

Expected = tuple[str, object]


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def packets(draw: st.DrawFn, mqtt5: bool) -> tuple[bytes, Expected]:
    """One packet and what splitting it must give."""
    if draw(st.integers(0, 4)) == 0:  # not a PUBLISH (PUBREL, SUBACK, PINGRESP, ...)
        command = draw(st.sampled_from([0x62, 0x90, 0xB0, 0xD0, 0x20]))
        body = draw(st.binary(max_size=40))
        return bytes([command]) + remaining_length(len(body)) + body, ("other", (command, body))
    qos = draw(st.integers(0, 2))
    flags = qos << 1 | draw(st.sampled_from([0, 1, 8, 9]))
    topic = draw(st.text(max_size=30)).encode()
    if draw(st.integers(0, 9)) == 0:
        topic = b"\xff" + topic  # not UTF-8
    mid = draw(st.integers(1, 65535))
    payload = draw(st.one_of(st.binary(max_size=60), st.binary(min_size=120, max_size=300)))
    properties = b"\x02\x01\x01" if mqtt5 and draw(st.booleans()) else (b"\x00" if mqtt5 else b"")
    body = len(topic).to_bytes(2, "big") + topic
    body += (mid.to_bytes(2, "big") if qos else b"") + properties + payload
    command = 0x30 | flags
    raw = bytes([command]) + remaining_length(len(body)) + body
    ours = qos < 2 and topic and properties in (b"", b"\x00") and not topic.startswith(b"\xff")
    if ours:
        return raw, ("publish", (topic.decode(), payload, flags, mid if qos else None))
    return raw, ("other", (command, body))


@st.composite
def streams(draw: st.DrawFn) -> tuple[bool, list[tuple[bytes, Expected]], int]:
    mqtt5 = draw(st.booleans())
    items = draw(st.lists(packets(mqtt5), max_size=30))
    total = sum(len(raw) for raw, _ in items)
    return mqtt5, items, draw(st.integers(0, total))


def split(data: bytes, mqtt5: bool) -> tuple[int, list[Expected]]:
    got: list[Expected] = []
    publishes: list[Publish] = []

    def other(command: int, start: int, end: int) -> None:
        got.extend(("publish", p) for p in publishes)
        publishes.clear()
        got.append(("other", (command, data[start:end])))

    done = split_packets(data, mqtt5, publishes, other)
    got.extend(("publish", p) for p in publishes)
    return done, got


@given(streams())
def test_every_whole_packet_once_in_order(
    stream: tuple[bool, list[tuple[bytes, Expected]], int],
) -> None:
    mqtt5, items, cut = stream
    data = b"".join(raw for raw, _ in items)
    done, got = split(data[:cut], mqtt5)
    whole, expected = 0, []
    for raw, result in items:
        if whole + len(raw) > cut:
            break
        whole += len(raw)
        expected.append(result)
    assert (done, got) == (whole, expected)


def test_a_remaining_length_past_four_bytes_is_malformed() -> None:
    assert split(b"\x30\xff\xff\xff\xff\x01", False) == (-1, [])


def test_a_remaining_length_split_by_the_read_waits_for_more() -> None:
    body = b"\x00\x01t" + b"x" * 200
    raw = b"\x30" + remaining_length(len(body)) + body
    assert split(raw[:2], False) == (0, [])
    assert split(raw, False) == (len(raw), [("publish", ("t", b"x" * 200, 0, None))])
