"""`interpret`: one MQTT message → Accepted or Rejected (docs/contract.md §2, §3); it never raises."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorhub.ingest import interpret as interpret_module
from sensorhub.ingest.fields import IgnoredReason
from sensorhub.ingest.interpret import MAX_PAYLOAD_BYTES, interpret
from sensorhub.ingest.messages import (
    Accepted,
    LogEntry,
    Measurement,
    MessageKind,
    Rejected,
    RejectReason,
    StatusUpdate,
)
from sensorhub.ingest.sensor_ranges import in_range

RECEIVED = datetime(2025, 11, 30, 19, 0, tzinfo=UTC)
R = RejectReason


def accepted(
    topic: str | bytes, payload: bytes | str, received_at: datetime = RECEIVED
) -> Accepted:
    raw = payload.encode() if isinstance(payload, str) else payload
    result = interpret(topic, raw, received_at)
    assert isinstance(result, Accepted), result
    return result


def rejected(topic: str | bytes, payload: bytes | str) -> Rejected:
    raw = payload.encode() if isinstance(payload, str) else payload
    result = interpret(topic, raw, RECEIVED)
    assert isinstance(result, Rejected), result
    return result


def status_of(topic: str, document: Any) -> StatusUpdate:
    result = accepted(topic, json.dumps(document))
    assert result.status is not None
    return result.status


def check_invariants(result: Accepted | Rejected, received_at: datetime) -> None:
    if isinstance(result, Rejected):
        assert result.reason in RejectReason
        assert result.reason is not R.INTERNAL_ERROR, result
        assert len(result.detail) <= 200
        assert result.detail.isprintable() and result.topic.isprintable()
        return
    assert isinstance(result, Accepted)
    assert result.time.tzinfo is UTC
    assert -timedelta(days=90) <= result.time - received_at <= timedelta(minutes=5)
    if not result.device_time:
        assert result.time == received_at.replace(tzinfo=received_at.tzinfo or UTC)
    assert not (result.device_time and result.clock_corrected)
    if result.kind is MessageKind.MEASUREMENT:
        m = result.measurement
        assert m is not None and result.value == m.value
        assert math.isfinite(result.value)
        assert in_range(m.sensor_type, result.value, m.hardware_id)
    if result.status is not None:  # an unreadable field is left out, never None
        assert all(v is not None for v in result.status.fields.values()), result
        for row in result.status.sensors.values():
            assert all(v is not None or c == "value" for c, v in row.items()), result
        reasons = {reason.value for reason in IgnoredReason}
        assert all(reason in reasons for _, reason in result.ignored_fields), result
    if result.metadata is not None:
        json.dumps(result.metadata, allow_nan=False)


# --- never raises -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
json_payloads = json_values.map(lambda v: json.dumps(v).encode())
status_keys = st.sampled_from(
    [
        "rssi",
        "memory",
        "heapFreeKb",
        "ip",
        "mac",
        "uptimeStart",
        "moduleType",
        "flash",
        "usedKb",
        "totalKb",
        "heapMinFreeKb",
        "enabled",
        "chip",
        "model",
        "rev",
        "cores",
        "sensors",
        "co2",
        "status",
        "value",
        "interval",
        "level",
        "msg",
        "time",
    ]
)
status_like = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda children: st.dictionaries(status_keys, children, max_size=5),
    max_leaves=25,
).map(lambda v: json.dumps(v).encode())
valid_topics = st.sampled_from(
    [
        "m/system",
        "m/system/config",
        "m/hardware/config",
        "m/sensors/status",
        "m/sensors/config",
        "m/logs",
        "m/temperature",
        "m/dht22/co2",
        "m/radon",
    ]
)
times = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat),
    st.integers(min_value=1_700_000_000, max_value=1_800_000_000),
    st.integers(min_value=1_700_000_000_000, max_value=1_800_000_000_000),
)
measurement_like = st.one_of(
    st.floats().map(repr),
    st.fixed_dictionaries(
        {"value": st.floats() | st.floats().map(repr) | json_values},
        optional={"time": times},
    ).map(lambda d: json.dumps(d)),
).map(str.encode)
received_times = st.datetimes(
    min_value=datetime(1, 1, 8), max_value=datetime(9999, 12, 24), timezones=st.just(UTC)
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.binary()), st.binary())
def test_never_raises_on_arbitrary_input(topic: str | bytes, payload: bytes) -> None:
    result = interpret(topic, payload, RECEIVED)
    assert isinstance(result, Accepted | Rejected)
    check_invariants(result, RECEIVED)


text_payloads = st.text(max_size=80).map(str.encode)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_topics,
    st.one_of(json_payloads, status_like, measurement_like, text_payloads, st.binary(max_size=64)),
    received_times,
)
def test_never_raises_on_json_like_payloads(
    topic: str | bytes, payload: bytes, received_at: datetime
) -> None:
    result = interpret(topic, payload, received_at)
    check_invariants(result, received_at)


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(" \t\n", max_size=2),
    st.sampled_from(["text", "json", "json_string"]),
)
def test_any_finite_number_is_a_measurement(x: float, pad: str, form: str) -> None:
    payload = {
        "text": f"{pad}{x!r}{pad}",
        "json": json.dumps({"value": x}),
        "json_string": json.dumps({"value": f"{pad}{x!r}{pad}"}),
    }[form]
    result = accepted("m/dht22/radon", payload)
    assert result.value == x
    assert result.measurement == Measurement(RECEIVED, "m", "radon", "dht22", x)
    known = interpret("m/humidity", payload.encode(), RECEIVED)
    if 0 <= x <= 100:
        assert isinstance(known, Accepted) and known.value == x
    else:
        assert isinstance(known, Rejected) and known.reason is R.OUT_OF_RANGE


# --- measurements -------------------------------------------------------------------------------


def test_plain_number_measurement() -> None:
    result = accepted("greenhouse/temperature", b" 21.5 \n")
    assert result == Accepted(
        topic="greenhouse/temperature",
        module_id="greenhouse",
        kind=MessageKind.MEASUREMENT,
        time=RECEIVED,
        measurement=Measurement(RECEIVED, "greenhouse", "temperature", "default", 21.5),
        value=21.5,
    )


def test_json_measurement_with_hardware_id_and_time() -> None:
    payload = '{"value": "22.1", "time": "2025-11-30T18:59:00Z"}'
    result = accepted("greenhouse/dht22/temperature", payload)
    when = RECEIVED - timedelta(minutes=1)
    assert result.measurement == Measurement(when, "greenhouse", "temperature", "dht22", 22.1)
    assert result.time == when
    assert not result.clock_corrected


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        ("21.5", 21.5),
        ("-4", -4.0),
        ("1e2", 100.0),
        ('"21.5"', 21.5),
        ('" 21.5 "', 21.5),
        ('{"value": 21.5}', 21.5),
        ('{"value": " 3 "}', 3.0),
        ('{"value": 7, "extra": [1]}', 7.0),
        ("\ufeff21.5", 21.5),
    ],
)
def test_measurement_payload_forms(payload: str, value: float) -> None:
    result = accepted("m/radon", payload)
    assert result.value == value and isinstance(result.value, float)
    assert result.measurement is not None and result.measurement.value == value


@pytest.mark.parametrize(
    "payload",
    [
        "true",
        "false",
        "null",
        "NaN",
        "-Infinity",
        "Infinity",
        "inf",
        "nan",
        "1e999",
        "abc",
        "21,5",
        "1_000",
        '""',
        '"abc"',
        "{}",
        '{"value": null}',
        '{"value": true}',
        '{"value": ""}',
        '{"value": "abc"}',
        '{"value": NaN}',
        '{"value": {"v": 1}}',
        '{"value": [1]}',
        "[1]",
        "[]",
        '{"time": "2025-11-30T19:00:00Z"}',
    ],
)
def test_measurement_not_a_number(payload: str) -> None:
    assert rejected("m/temperature", payload).reason is R.NOT_A_NUMBER


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("m/temperature", "125.5"),
        ("m/temperature", "-56"),
        ("m/dht22/temperature", "80.5"),
        ("m/humidity", '{"value": 101}'),
        ("m/eco2", "399"),
        ("m/co2", "40001"),
        ("m/mhz14a/co2", "10001"),
        ("m/pm25", "-0.1"),
        ("m/Temperature", "1000"),
    ],
)
def test_measurement_out_of_range(topic: str, payload: str) -> None:
    result = rejected(topic, payload)
    assert result.reason is R.OUT_OF_RANGE
    assert "outside" in result.detail


def test_unknown_sensor_type_has_no_range() -> None:
    assert accepted("m/radon", "123456789").value == 123456789.0


@pytest.mark.parametrize(
    ("time", "expected_time", "corrected"),
    [
        (0, RECEIVED, True),  # 1970
        ("1970-01-01T00:00:10Z", RECEIVED, True),
        ("2999-01-01T00:00:00Z", RECEIVED, True),  # far future
        ((RECEIVED + timedelta(minutes=6)).isoformat(), RECEIVED, True),
        ((RECEIVED - timedelta(days=8)).isoformat(), RECEIVED - timedelta(days=8), False),
        ("2019-12-31T23:59:59Z", RECEIVED, True),  # clock never set
        ("not a time", RECEIVED, True),
        ((RECEIVED - timedelta(days=6)).isoformat(), RECEIVED - timedelta(days=6), False),
        ((RECEIVED + timedelta(minutes=4)).isoformat(), RECEIVED + timedelta(minutes=4), False),
        (1764529140, RECEIVED - timedelta(minutes=1), False),  # epoch seconds
        (1764529140250, RECEIVED - timedelta(seconds=59.75), False),  # epoch milliseconds
        ("1764529140250", RECEIVED - timedelta(seconds=59.75), False),
        (None, RECEIVED, False),  # no timestamp is not a correction
        ("", RECEIVED, False),
    ],
)
def test_measurement_clock_correction(
    time: object, expected_time: datetime, corrected: bool
) -> None:
    result = accepted("m/temperature", json.dumps({"value": 20, "time": time}))
    assert result.time == expected_time
    assert result.measurement is not None and result.measurement.time == expected_time
    assert result.clock_corrected is corrected
    assert result.device_time is (time not in (None, "") and not corrected)


def test_naive_received_at_is_utc() -> None:
    result = accepted("m/temperature", "20", RECEIVED.replace(tzinfo=None))
    assert result.time == RECEIVED and result.time.tzinfo is UTC


# --- rejections before the payload is read -------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("/temperature", R.EMPTY_MODULE_ID),
        ("", R.EMPTY_MODULE_ID),
        ("m/a/b/c", R.INVALID_TOPIC),
        ("m/sensors", R.INVALID_TOPIC),
        ("$SYS/broker/load", R.INVALID_TOPIC),
        ("m/+", R.INVALID_TOPIC),
        (b"m/\xfftemp", R.INVALID_TOPIC),  # not UTF-8: the client hands over bytes
        ("m/\x1b[2Jtemp", R.INVALID_TOPIC),
    ],
)
def test_topic_rejections(topic: str | bytes, reason: RejectReason) -> None:
    result = rejected(topic, "21.5")
    assert result.reason is reason
    assert result.topic.isprintable()


def test_utf8_bytes_topic_is_decoded() -> None:
    assert accepted("serre/température".encode(), "21").module_id == "serre"


def test_rejected_topic_is_escaped_and_short() -> None:
    result = rejected("m/\x1b[31m" + "x" * 1000, "1")
    assert "\x1b" not in result.topic and "\\x1b" in result.topic
    assert len(result.topic) <= 200


def test_payload_size_limit() -> None:
    filler = "x" * (MAX_PAYLOAD_BYTES - 2)
    at_limit = accepted("m/logs", "é" + filler)  # 2 + 65534 bytes
    assert at_limit.log is not None and len(at_limit.log.message) == 2000
    result = rejected("m/logs", "é" + filler + "x")
    assert result.reason is R.PAYLOAD_TOO_LARGE
    assert rejected("m/temperature", b"1" * 100_000).reason is R.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize("topic", ["m/temperature", "m/system", "m/logs"])
def test_not_utf8(topic: str) -> None:
    result = rejected(topic, b"\xff\xfe21.5\xc3\x28")
    assert result.reason is R.NOT_UTF8


@pytest.mark.parametrize("topic", ["m/temperature", "m/system", "m/sensors/config", "m/logs"])
@pytest.mark.parametrize("payload", [b"", b"  \n ", b"\xef\xbb\xbf"])
def test_empty_payload(topic: str, payload: bytes) -> None:
    assert rejected(topic, payload).reason is R.EMPTY_PAYLOAD


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("m/temperature", '{"value": 21.5, "time": '),
        ("m/temperature", "[1, 2"),
        ("m/temperature", "{" * 20_000),
        ("m/temperature", "[" * 60_000),
        ("m/system", "rssi=-45"),
        ("m/system", '{"rssi": -45'),
        ("m/system", "[" * 60_000),
        ("m/sensors/status", '{"co2": {"status": "ok",}}'),
        ("m/system", "1" * 5000),  # beyond Python's int digit limit
    ],
)
def test_malformed_json(topic: str, payload: str) -> None:
    result = rejected(topic, payload)
    assert result.reason is R.MALFORMED_JSON
    assert len(result.detail) <= 200


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("m/system", "[1, 2]"),
        ("m/system/config", '"text"'),
        ("m/hardware/config", "42"),
        ("m/sensors/status", "null"),
        ("m/sensors/config", "true"),
    ],
)
def test_status_needs_an_object(topic: str, payload: str) -> None:
    assert rejected(topic, payload).reason is R.INVALID_PAYLOAD


def test_detail_escapes_control_characters() -> None:
    result = rejected("m/temperature", "\x1b[31mred\u202e" + "z" * 500)
    assert result.reason is R.NOT_A_NUMBER
    assert "\x1b" not in result.detail and "\u202e" not in result.detail
    assert "\\x1b" in result.detail
    assert len(result.detail) <= 200


def test_unexpected_error_becomes_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object) -> Accepted:
        raise RuntimeError("bug")

    monkeypatch.setattr(interpret_module, "interpret_measurement", explode)
    result = rejected("m/temperature", "1")
    assert result.reason is R.INTERNAL_ERROR
    assert result.detail == "unexpected RuntimeError"


# --- status messages ------------------------------------------------------------------------------


def test_system() -> None:
    document = {"rssi": -45, "memory": {"heapFreeKb": 123, "heapMinFreeKb": 45}}
    result = accepted("esp/system", json.dumps(document))
    assert result.kind is MessageKind.SYSTEM
    assert result.status == StatusUpdate(
        MessageKind.SYSTEM, "esp", {"rssi": -45, "heap_free_kb": 123, "heap_min_free_kb": 45}, {}
    )
    assert result.metadata == document
    assert result.time == RECEIVED and not result.clock_corrected


def test_status_fields_are_normalized_never_rejected() -> None:
    document = {"rssi": "-45 ", "memory": {"heapFreeKb": "lots", "heapMinFreeKb": True}}
    result = accepted("m/system", json.dumps(document))
    assert result.status is not None and result.status.fields == {"rssi": -45}
    assert result.ignored_fields == (
        ("memory.heapFreeKb", "not_a_number"),
        ("memory.heapMinFreeKb", "wrong_type"),
    )


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        ({}, {}),
        ({"rssi": -50}, {"rssi": -50}),
        ({"rssi": None}, {}),
        ({"memory": {"heapMinFreeKb": 40}}, {"heap_min_free_kb": 40}),
        ({"memory": "oops"}, {}),
        ({"unknown": 1}, {}),
    ],
)
def test_status_fields_hold_only_present_keys(
    document: dict[str, object], fields: dict[str, object]
) -> None:
    assert status_of("m/system", document).fields == fields


def test_system_config() -> None:
    booted = RECEIVED - timedelta(hours=5)
    document = {
        "ip": " 192.168.1.20 ",
        "mac": "24:6F:28:00:00:01",
        "uptimeStart": int(booted.timestamp()),
        "moduleType": "esp32-env",
        "flash": {"usedKb": 1210, "freeKb": 1890, "systemKb": 996},
        "memory": {"heapTotalKb": 320},
    }
    assert status_of("m/system/config", document) == StatusUpdate(
        MessageKind.SYSTEM_CONFIG,
        "m",
        {
            "ip": "192.168.1.20",
            "mac": "24:6F:28:00:00:01",
            "uptime_start": str(int(booted.timestamp())),
            "module_type": "esp32-env",
            "flash_used_kb": 1210,
            "flash_free_kb": 1890,
            "flash_system_kb": 996,
            "heap_total_kb": 320,
            "booted_at": booted,
        },
        {},
    )


@pytest.mark.parametrize(
    ("uptime_start", "booted_at"),
    [
        (1764511200, RECEIVED - timedelta(hours=5)),  # epoch seconds
        (1764511200500, RECEIVED - timedelta(hours=5) + timedelta(milliseconds=500)),  # ms
        ("2025-11-01T00:00:00Z", datetime(2025, 11, 1, tzinfo=UTC)),  # long uptime is fine
        (12345, RECEIVED - timedelta(seconds=12345)),  # the seed firmware: seconds since boot
        ("86400", RECEIVED - timedelta(days=1)),
        ("3 days", None),
        ("", None),
        ((RECEIVED + timedelta(hours=1)).isoformat(), None),  # boot in the future
        ("2019-01-01T00:00:00Z", None),  # clock never set
    ],
)
def test_booted_at(uptime_start: object, booted_at: datetime | None) -> None:
    result = accepted("m/system/config", json.dumps({"uptimeStart": uptime_start}))
    assert result.status is not None
    assert result.status.fields.get("booted_at") == booted_at
    assert bool(result.ignored_fields) is (booted_at is None)


def test_system_config_without_uptime_has_no_boot_time() -> None:
    result = accepted("m/system/config", json.dumps({"ip": "10.0.0.2", "mac": ""}))
    assert result.status is not None and result.status.fields == {"ip": "10.0.0.2"}
    assert result.ignored_fields == (("mac", "blank"),)


def test_hardware_config() -> None:
    document = {
        "chip": {
            "model": "ESP32-D0WD-V3",
            "rev": "3",
            "cpuFreqMhz": 240,
            "flashKb": 4096.0,
            "cores": "two",
        }
    }
    assert status_of("m/hardware/config", document) == StatusUpdate(
        MessageKind.HARDWARE_CONFIG,
        "m",
        {
            "chip_model": "ESP32-D0WD-V3",
            "chip_rev": 3,
            "cpu_freq_mhz": 240,
            "flash_kb": 4096,
        },
        {},
    )
    assert status_of("m/hardware/config", {"chip": {"cores": 2}}).fields == {"cores": 2}
    result = accepted("m/hardware/config", '{"chip": [1]}')
    assert result.status is not None and result.status.fields == {}
    assert result.ignored_fields == (("chip", "wrong_type"),)


def test_sensor_status_flat() -> None:
    document = {
        "co2": {"status": "ok", "value": 650},
        "temperature": {"status": " warming "},
        "humidity": "ok",
        "sensors": 3,
    }
    status = status_of("m/sensors/status", document)
    assert status == StatusUpdate(
        MessageKind.SENSOR_STATUS,
        "m",
        {},
        {"co2": {"status": "ok", "value": 650.0}, "temperature": {"status": "warming"}},
    )


def test_sensor_status_wrapped_with_module_type() -> None:
    document = {
        "moduleType": "esp32-env",
        "sensors": {"co2": {"status": "error", "value": "NaN"}, " pm25 ": {"value": "7"}},
    }
    result = accepted("m/sensors/status", json.dumps(document))
    assert result.status is not None
    assert result.status.fields == {"module_type": "esp32-env"}
    assert result.status.sensors == {"co2": {"status": "error"}, "pm25": {"value": 7.0}}
    assert result.ignored_fields == (("sensors.co2.value", "not_finite"),)


def test_sensor_status_null_value_is_stored_as_no_reading() -> None:
    """The seed firmware reports a stopped sensor as `{"status": "disabled", "value": null}`."""
    document = {"dht22:temperature": {"status": "disabled", "value": None}}
    status = status_of("m/sensors/status", document)
    assert status.sensors == {"dht22:temperature": {"status": "disabled", "value": None}}


def test_sensor_status_skips_invalid_sensor_names() -> None:
    document = {
        "a/b": {"status": "ok"},
        "logs": {"status": "ok"},
        "": {"status": "ok"},
        "x" * 65: {"status": "ok"},
        "co2": {},
    }
    assert status_of("m/sensors/status", document).sensors == {"co2": {}}


def test_sensor_config() -> None:
    document = {
        "sensors": {
            "co2": {"interval": 60, "model": "mhz14a"},
            "temperature": {"interval": "30"},
            "humidity": {"interval": 0},
            "pm25": {"interval": 0.05, "model": "", "enabled": False},
            "voc": None,
            "eco2": {"interval": "60s", "enabled": "maybe"},
        }
    }
    result = accepted("m/sensors/config", json.dumps(document))
    assert result.status == StatusUpdate(
        MessageKind.SENSOR_CONFIG,
        "m",
        {},
        {
            "co2": {"interval_s": 60, "model": "mhz14a"},
            "temperature": {"interval_s": 30},
            "humidity": {},
            "pm25": {"interval_s": 1, "enabled": False},
            "eco2": {},
        },
    )
    assert result.ignored_fields == (
        ("sensors.humidity.interval", "out_of_range"),
        ("sensors.pm25.model", "blank"),
        ("sensors.voc", "null"),
        ("sensors.eco2.interval", "unit_suffix"),
        ("sensors.eco2.enabled", "wrong_type"),
    )


def test_status_metadata_is_json_safe() -> None:
    payload = '{"rssi": NaN, "ip": "  ", "memory": {"heapFreeKb": Infinity}}'
    result = accepted("m/system", payload)
    assert result.metadata == {"rssi": None, "ip": None, "memory": {"heapFreeKb": None}}
    assert result.status is not None and result.status.fields == {}
    assert result.ignored_fields == (("rssi", "not_finite"), ("memory.heapFreeKb", "not_finite"))


def test_deeply_nested_status_is_accepted_with_capped_metadata() -> None:
    payload = '{"rssi": -40, "x": ' + "[" * 500 + "]" * 500 + "}"
    result = accepted("m/system", payload)
    assert result.status is not None and result.status.fields == {"rssi": -40}
    json.dumps(result.metadata)


# --- logs ---------------------------------------------------------------------------------------


def test_json_log() -> None:
    when = RECEIVED - timedelta(seconds=30)
    document = {"level": " WARN ", "msg": " sensor timeout ", "time": when.isoformat()}
    result = accepted("m/logs", json.dumps(document))
    assert result.kind is MessageKind.LOG
    assert result.log == LogEntry(when, "m", "warn", "sensor timeout")
    assert result.time == when and not result.clock_corrected
    assert result.metadata == {"level": "WARN", "msg": "sensor timeout", "time": when.isoformat()}


def test_log_defaults_and_limits() -> None:
    result = accepted("m/logs", json.dumps({"message": "m" * 5000, "level": "X" * 40, "time": 0}))
    assert result.log is not None
    assert result.log.level == "x" * 16
    assert result.log.message == "m" * 2000
    assert result.clock_corrected and result.time == RECEIVED
    assert accepted("m/logs", '{"msg": 42}').log == LogEntry(RECEIVED, "m", "info", "42")


@pytest.mark.parametrize("payload", ["boot ok", "{not json", "[1, 2]", '"quoted"', "42"])
def test_plain_text_log(payload: str) -> None:
    result = accepted("m/logs", f"  {payload}\n")
    assert result.log == LogEntry(RECEIVED, "m", "info", payload)
    assert result.metadata == {"level": "info", "msg": payload}


def test_log_text_is_storable() -> None:
    result = accepted("m/logs", b"a\x00b c")
    assert result.log is not None and result.log.message == "ab c"
    escaped = accepted("m/logs", '{"msg": "x\\u0000y\\ud800"}')
    assert escaped.log is not None and escaped.log.message == "xy?"


@pytest.mark.parametrize(
    "payload",
    ['{"level": "info"}', '{"msg": ""}', '{"msg": null}', '{"msg": {"a": 1}}', '{"msg": true}'],
)
def test_log_without_message(payload: str) -> None:
    assert rejected("m/logs", payload).reason is R.INVALID_PAYLOAD


# --- every topic row at once ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "kind"),
    [
        ("m/system", '{"rssi": -45}', MessageKind.SYSTEM),
        ("m/system/config", '{"ip": "10.0.0.2"}', MessageKind.SYSTEM_CONFIG),
        ("m/hardware/config", '{"chip": {"model": "ESP32"}}', MessageKind.HARDWARE_CONFIG),
        ("m/sensors/status", '{"co2": {"status": "ok"}}', MessageKind.SENSOR_STATUS),
        ("m/sensors/config", '{"sensors": {"co2": {"interval": 60}}}', MessageKind.SENSOR_CONFIG),
        ("m/temperature", "21.5", MessageKind.MEASUREMENT),
        ("m/dht22/temperature", '{"value": 21.5}', MessageKind.MEASUREMENT),
        ("m/logs", '{"level": "info", "msg": "hi"}', MessageKind.LOG),
    ],
)
def test_every_topic_row(topic: str, payload: str, kind: MessageKind) -> None:
    result = accepted(topic, payload)
    assert (result.kind, result.topic, result.module_id) == (kind, topic, "m")
    assert (result.measurement is not None) == (kind is MessageKind.MEASUREMENT)
    assert (result.log is not None) == (kind is MessageKind.LOG)
    assert (result.status is not None) == (kind not in (MessageKind.MEASUREMENT, MessageKind.LOG))
    assert (result.metadata is None) == (kind is MessageKind.MEASUREMENT)
