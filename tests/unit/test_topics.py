"""Topic parsing (docs/contract.md §2): every topic row, every way a topic is invalid, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.messages import InvalidMessage, MessageKind, RejectReason
from sensorhub.ingest.topics import (
    DEFAULT_HARDWARE_ID,
    MAX_LEVEL_LENGTH,
    RESERVED_LEVELS,
    ParsedTopic,
    format_topic,
    is_valid_id,
    parse_topic,
    sensor_config_topic,
)

M = MessageKind


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("greenhouse/system", ParsedTopic(M.SYSTEM, "greenhouse")),
        ("greenhouse/system/config", ParsedTopic(M.SYSTEM_CONFIG, "greenhouse")),
        ("greenhouse/hardware/config", ParsedTopic(M.HARDWARE_CONFIG, "greenhouse")),
        ("greenhouse/sensors/status", ParsedTopic(M.SENSOR_STATUS, "greenhouse")),
        ("greenhouse/sensors/config", ParsedTopic(M.SENSOR_CONFIG, "greenhouse")),
        ("greenhouse/logs", ParsedTopic(M.LOG, "greenhouse")),
        (
            "greenhouse/temperature",
            ParsedTopic(M.MEASUREMENT, "greenhouse", "temperature", DEFAULT_HARDWARE_ID),
        ),
        (
            "greenhouse/dht22/temperature",
            ParsedTopic(M.MEASUREMENT, "greenhouse", "temperature", "dht22"),
        ),
        # ids are kept exactly as written: case, inner spaces, unicode
        (
            "Green House/DHT22/Temperature",
            ParsedTopic(M.MEASUREMENT, "Green House", "Temperature", "DHT22"),
        ),
        ("serre-ü/température", ParsedTopic(M.MEASUREMENT, "serre-ü", "température", "default")),
        # a reserved word is only reserved after the module id
        ("system/system", ParsedTopic(M.SYSTEM, "system")),
        ("m/config", ParsedTopic(M.MEASUREMENT, "m", "config", "default")),
        ("m/status/co2", ParsedTopic(M.MEASUREMENT, "m", "co2", "status")),
    ],
)
def test_valid_topics(topic: str, expected: ParsedTopic) -> None:
    assert parse_topic(topic) == expected


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("", RejectReason.EMPTY_MODULE_ID),
        ("/temperature", RejectReason.EMPTY_MODULE_ID),
        ("/dht22/temperature", RejectReason.EMPTY_MODULE_ID),
        ("m", RejectReason.INVALID_TOPIC),
        ("m/", RejectReason.INVALID_TOPIC),
        ("m//temperature", RejectReason.INVALID_TOPIC),
        ("m/dht22/", RejectReason.INVALID_TOPIC),
        ("m/a/b/c", RejectReason.INVALID_TOPIC),
        ("m/system/config/x", RejectReason.INVALID_TOPIC),
        ("m/sensors", RejectReason.INVALID_TOPIC),
        ("m/hardware", RejectReason.INVALID_TOPIC),
        ("m/logs/x", RejectReason.INVALID_TOPIC),
        ("m/system/foo", RejectReason.INVALID_TOPIC),
        ("m/sensors/foo", RejectReason.INVALID_TOPIC),
        ("m/hardware/temperature", RejectReason.INVALID_TOPIC),
        ("m/dht22/system", RejectReason.INVALID_TOPIC),
        ("m/dht22/logs", RejectReason.INVALID_TOPIC),
        ("m/+/temperature", RejectReason.INVALID_TOPIC),
        ("m/#", RejectReason.INVALID_TOPIC),
        ("m/temp#1", RejectReason.INVALID_TOPIC),
        ("$SYS/broker/uptime", RejectReason.INVALID_TOPIC),
        ("$share/g/temperature", RejectReason.INVALID_TOPIC),
        ("m/temp\x00", RejectReason.INVALID_TOPIC),
        ("m\n/temperature", RejectReason.INVALID_TOPIC),
        ("m/\x1b[31mred", RejectReason.INVALID_TOPIC),
        ("m/te\u202emp", RejectReason.INVALID_TOPIC),  # bidi override
        ("m/ temperature", RejectReason.INVALID_TOPIC),
        ("m /temperature", RejectReason.INVALID_TOPIC),
        ("m/\u00a0", RejectReason.INVALID_TOPIC),
        ("x" * (MAX_LEVEL_LENGTH + 1) + "/temperature", RejectReason.INVALID_TOPIC),
        ("m/" + "t" * (MAX_LEVEL_LENGTH + 1), RejectReason.INVALID_TOPIC),
        ("m/" + "x" * 100_000, RejectReason.INVALID_TOPIC),
    ],
)
def test_invalid_topics(topic: str, reason: RejectReason) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_topic(topic)
    assert caught.value.reason is reason


def test_level_length_limit_is_inclusive() -> None:
    longest = "x" * MAX_LEVEL_LENGTH
    parsed = parse_topic(f"{longest}/{longest}/{longest}")
    assert parsed == ParsedTopic(M.MEASUREMENT, longest, longest, longest)


def test_is_valid_id() -> None:
    assert is_valid_id("co2")
    assert is_valid_id("pm 2.5")
    for bad in ["", " co2", "co2 ", "a/b", "a+b", "a#", "x" * 65, "co\x00", *RESERVED_LEVELS]:
        assert not is_valid_id(bad), bad


def test_sensor_config_topic() -> None:
    topic = sensor_config_topic("greenhouse")
    assert topic == "greenhouse/sensors/config"
    assert parse_topic(topic) == ParsedTopic(M.SENSOR_CONFIG, "greenhouse")


_LEVEL_CHARS = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
    blacklist_characters="/+#",
)
_levels = st.text(st.one_of(_LEVEL_CHARS, st.just(" ")), min_size=1, max_size=MAX_LEVEL_LENGTH)
ids = _levels.filter(lambda s: s == s.strip() and s not in RESERVED_LEVELS)
module_ids = _levels.filter(lambda s: s == s.strip() and not s.startswith("$"))


@given(module_ids, st.one_of(st.none(), ids), ids)
def test_measurement_topic_round_trip(module_id: str, hardware_id: str | None, sensor: str) -> None:
    expected = ParsedTopic(M.MEASUREMENT, module_id, sensor, hardware_id or DEFAULT_HARDWARE_ID)
    topic = (
        f"{module_id}/{sensor}" if hardware_id is None else f"{module_id}/{hardware_id}/{sensor}"
    )
    assert parse_topic(topic) == expected
    if hardware_id in (None, DEFAULT_HARDWARE_ID):
        assert format_topic(expected) == f"{module_id}/{sensor}"
    else:
        assert format_topic(expected) == topic


@given(module_ids, st.sampled_from([k for k in MessageKind if k is not M.MEASUREMENT]))
def test_status_topic_round_trip(module_id: str, kind: MessageKind) -> None:
    parsed = ParsedTopic(kind, module_id)
    assert parse_topic(format_topic(parsed)) == parsed


@given(st.text(max_size=300))
def test_parse_topic_raises_only_invalid_message(topic: str) -> None:
    try:
        parsed = parse_topic(topic)
    except InvalidMessage as error:
        assert error.reason in (RejectReason.INVALID_TOPIC, RejectReason.EMPTY_MODULE_ID)
    else:
        assert parsed.module_id == topic.split("/")[0]
        assert format_topic(parsed) in (topic, topic.replace(f"/{DEFAULT_HARDWARE_ID}/", "/", 1))
