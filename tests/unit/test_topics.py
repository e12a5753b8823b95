"""Topic parsing (docs/contract.md §2): every topic row, every way a topic is invalid, round trips."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.messages import InvalidMessage, MessageKind, RejectReason
from sensorhub.ingest.topics import (
    DEFAULT_HARDWARE_ID,
    MAX_LEVEL_LENGTH,
    RESERVED_LEVELS,
    ParsedTopic,
    is_valid_id,
    parse_topic,
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


def test_topic_text_is_kept_in_the_parse() -> None:
    assert parse_topic("greenhouse/dht22/temperature").topic == "greenhouse/dht22/temperature"
    assert parse_topic(b"greenhouse/logs").topic == "greenhouse/logs"


def test_module_ids_are_nfc_normalized() -> None:
    composed = parse_topic("gew\u00e4chshaus/temperature")
    decomposed = parse_topic("gewa\u0308chshaus/temperature")
    assert composed == decomposed
    assert decomposed.module_id == "gew\u00e4chshaus"
    assert decomposed.topic == "gew\u00e4chshaus/temperature"
    assert parse_topic("gewa\u0308chshaus/sensors/status").module_id == "gew\u00e4chshaus"


def test_bytes_topic_that_is_not_utf8_is_invalid() -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_topic(b"m/\xff")
    assert caught.value.reason is RejectReason.INVALID_TOPIC


_LEVEL_CHARS = st.characters(
    blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
    blacklist_characters="/+#",
)
_levels = st.text(st.one_of(_LEVEL_CHARS, st.just(" ")), min_size=1, max_size=MAX_LEVEL_LENGTH)


def _nfc(text: str) -> bool:
    return unicodedata.is_normalized("NFC", text)


ids = _levels.filter(lambda s: s == s.strip() and s not in RESERVED_LEVELS and _nfc(s))
module_ids = _levels.filter(lambda s: s == s.strip() and not s.startswith("$") and _nfc(s))


@given(module_ids, st.one_of(st.none(), ids), ids)
def test_measurement_topic_round_trip(module_id: str, hardware_id: str | None, sensor: str) -> None:
    expected = ParsedTopic(M.MEASUREMENT, module_id, sensor, hardware_id or DEFAULT_HARDWARE_ID)
    topic = (
        f"{module_id}/{sensor}" if hardware_id is None else f"{module_id}/{hardware_id}/{sensor}"
    )
    parsed = parse_topic(topic)
    assert parsed == expected
    assert parsed.topic == topic


SUFFIXES = {
    M.SYSTEM: "system",
    M.SYSTEM_CONFIG: "system/config",
    M.HARDWARE_CONFIG: "hardware/config",
    M.SENSOR_STATUS: "sensors/status",
    M.SENSOR_CONFIG: "sensors/config",
    M.LOG: "logs",
}


@given(module_ids, st.sampled_from(sorted(SUFFIXES)))
def test_status_topic_round_trip(module_id: str, kind: MessageKind) -> None:
    assert parse_topic(f"{module_id}/{SUFFIXES[kind]}") == ParsedTopic(kind, module_id)


@given(st.text(max_size=40))
def test_nfc_and_nfd_spellings_parse_alike(name: str) -> None:
    def parse(form: str) -> ParsedTopic | RejectReason:
        try:
            return parse_topic(unicodedata.normalize(form, f"{name}/{name}"))  # type: ignore[arg-type]
        except InvalidMessage as error:
            return error.reason

    assert parse("NFC") == parse("NFD")


@given(st.text(max_size=300))
def test_parse_topic_raises_only_invalid_message(topic: str) -> None:
    try:
        parsed = parse_topic(topic)
    except InvalidMessage as error:
        assert error.reason in (RejectReason.INVALID_TOPIC, RejectReason.EMPTY_MODULE_ID)
    else:
        assert parsed.module_id == unicodedata.normalize("NFC", topic).split("/")[0]
        assert parsed.topic == unicodedata.normalize("NFC", topic)
