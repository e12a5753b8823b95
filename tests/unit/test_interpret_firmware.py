"""`interpret` on the inputs of issue 12 items 3, 4, 8, 9 and issue 15's firmware ranges."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.interpret import InterpretRules, interpret
from sensorhub.ingest.messages import Accepted, MessageKind, Rejected, RejectReason
from sensorhub.ingest.sensor_ranges import SensorRanges

RECEIVED = datetime(2025, 11, 30, 19, 0, tzinfo=UTC)
R = RejectReason


def accepted(topic: str, payload: bytes | str, rules: InterpretRules | None = None) -> Accepted:
    raw = payload.encode() if isinstance(payload, str) else payload
    result = interpret(topic, raw, RECEIVED, rules or InterpretRules())
    assert isinstance(result, Accepted), result
    return result


def rejected(topic: str, payload: bytes | str, rules: InterpretRules | None = None) -> Rejected:
    raw = payload.encode() if isinstance(payload, str) else payload
    result = interpret(topic, raw, RECEIVED, rules or InterpretRules())
    assert isinstance(result, Rejected), result
    return result


# --- 12.3 old but valid device times ------------------------------------------------------------


def test_eight_day_old_reading_keeps_its_time() -> None:
    eight_days_ago = RECEIVED - timedelta(days=8)
    payload = json.dumps({"value": 10, "time": eight_days_ago.timestamp()})
    result = accepted("gh-1/temperature", payload)
    assert result.time == eight_days_ago
    assert result.measurement is not None and result.measurement.time == eight_days_ago
    assert (result.device_time, result.clock_corrected) == (True, False)


def test_reading_older_than_retain_for_is_rejected_too_old() -> None:
    rules = InterpretRules(retain_for=timedelta(days=30))
    old = json.dumps({"value": 10, "time": (RECEIVED - timedelta(days=31)).isoformat()})
    result = rejected("gh-1/temperature", old, rules)
    assert result.reason is R.TOO_OLD
    assert "RETAIN_FOR" in result.detail
    assert rejected("gh-1/logs", json.dumps({"msg": "x", "time": 1_700_000_000}), rules).reason is (
        R.TOO_OLD
    )


@pytest.mark.parametrize("time", [12, 3600, 86_400 * 400, "1970-01-01T00:20:00Z", "2019-05-01"])
def test_clock_never_set_is_corrected_to_the_receive_time(time: object) -> None:
    result = accepted("gh-1/temperature", json.dumps({"value": 10, "time": time}))
    assert (result.time, result.clock_corrected, result.device_time) == (RECEIVED, True, False)


def test_future_beyond_skew_is_still_corrected() -> None:
    ahead = (RECEIVED + timedelta(minutes=10)).isoformat()
    result = accepted("gh-1/temperature", json.dumps({"value": 10, "time": ahead}))
    assert (result.time, result.clock_corrected) == (RECEIVED, True)


def test_plain_number_is_stamped_with_the_receive_time() -> None:
    result = accepted("gh-1/temperature", "20.1")
    assert (result.time, result.device_time, result.clock_corrected) == (RECEIVED, False, False)


# --- 12.4 unreadable fields keep the stored value -----------------------------------------------


def test_issue_input_with_units_leaves_rssi_and_heap_out() -> None:
    result = accepted("gh-2/system", '{"rssi": "-67 dBm", "memory": {"heapFreeKb": "151 KB"}}')
    assert result.status is not None and result.status.fields == {}
    assert result.ignored_fields == (("rssi", "unit_suffix"), ("memory.heapFreeKb", "unit_suffix"))


@pytest.mark.parametrize(
    ("topic", "document", "field", "reason"),
    [
        ("m/system", {"rssi": 2**31}, "rssi", "out_of_range"),
        ("m/system", {"rssi": True}, "rssi", "wrong_type"),
        ("m/system", {"memory": {"heapFreeKb": {"v": 1}}}, "memory.heapFreeKb", "wrong_type"),
        ("m/system", {"memory": 151}, "memory", "wrong_type"),
        ("m/system/config", {"ip": {"v4": "10.0.0.1"}}, "ip", "wrong_type"),
        ("m/system/config", {"flash": {"totalKb": "4 MB"}}, "flash.totalKb", "unit_suffix"),
        ("m/hardware/config", {"chip": {"cpuFreqMhz": "240MHz"}}, "chip.cpuFreqMhz", "unit_suffix"),
        ("m/hardware/config", {"chip": {"model": False}}, "chip.model", "wrong_type"),
        ("m/sensors/status", {"co2": {"value": "612 ppm"}}, "co2.value", "unit_suffix"),
        ("m/sensors/status", {"co2": {"status": ["ok"]}}, "co2.status", "wrong_type"),
        ("m/sensors/config", {"co2": {"interval": "60s"}}, "co2.interval", "unit_suffix"),
        ("m/sensors/config", {"co2": {"interval": 2**40}}, "co2.interval", "out_of_range"),
        ("m/sensors/config", {"co2": {"enabled": "yes"}}, "co2.enabled", "wrong_type"),
    ],
)
def test_unreadable_field_is_ignored_and_named(
    topic: str, document: dict[str, object], field: str, reason: str
) -> None:
    result = accepted(topic, json.dumps(document))
    assert result.ignored_fields == ((field, reason),)
    assert result.status is not None
    assert result.status.fields == {}
    assert all(row == {} for row in result.status.sensors.values())


# --- 12.8 the seed firmware's shapes ------------------------------------------------------------


def test_seed_system_config() -> None:
    document = {
        "ip": "192.168.1.42",
        "mac": "24:6F:28:AA:BB:CC",
        "uptimeStart": 3600,
        "moduleType": "air-quality-bench",
        "rssi": -61,
        "flash": {"totalKb": 4096, "usedKb": 1210, "freeKb": 1890},
        "memory": {"heapTotalKb": 320, "heapFreeKb": 151, "heapMinFreeKb": 98},
    }
    result = accepted("gh-8/system/config", json.dumps(document))
    assert result.status is not None
    assert result.status.fields == {
        "ip": "192.168.1.42",
        "mac": "24:6F:28:AA:BB:CC",
        "uptime_start": "3600",
        "module_type": "air-quality-bench",
        "rssi": -61,
        "heap_free_kb": 151,
        "heap_min_free_kb": 98,
        "flash_used_kb": 1210,
        "flash_free_kb": 1890,
        "flash_total_kb": 4096,
        "heap_total_kb": 320,
        "booted_at": RECEIVED - timedelta(hours=1),
    }
    assert result.ignored_fields == ()


def test_seed_sensor_config_enabled_per_sensor() -> None:
    document = {"dht22": {"interval": 30, "enabled": False}, "sht40": {"enabled": True}}
    result = accepted("gh-8/sensors/config", json.dumps(document))
    assert result.status is not None
    assert result.status.sensors == {
        "dht22": {"interval_s": 30, "enabled": False},
        "sht40": {"enabled": True},
    }


# --- 12.9 NUL bytes, NFC module ids, ranges ------------------------------------------------------


def test_trailing_nul_is_stripped_and_flagged() -> None:
    result = accepted("gh-1/temperature", b"21.5\0")
    assert (result.value, result.nul_stripped) == (21.5, True)
    assert accepted("gh-1/temperature", b"21.5").nul_stripped is False
    status = accepted("gh-1/system", b'{"rssi": -40}\0\0')
    assert status.status is not None and status.status.fields == {"rssi": -40}
    assert status.nul_stripped is True
    log = accepted("gh-1/logs", b"boot ok\0")
    assert log.log is not None and log.log.message == "boot ok" and log.nul_stripped


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=100),
    st.integers(min_value=1, max_value=4),
    st.sampled_from(["plain", "json"]),
)
def test_nul_terminated_payload_reads_like_the_payload(x: float, nuls: int, form: str) -> None:
    text = repr(x) if form == "plain" else json.dumps({"value": x})
    clean = accepted("m/humidity", text)
    terminated = accepted("m/humidity", text.encode() + b"\0" * nuls)
    assert terminated.value == clean.value == x
    assert terminated.nul_stripped and not clean.nul_stripped


@given(
    st.sampled_from(["m/temperature", "m/dht22/radon", "m/system", "m/sensors/config", "m/logs"]),
    st.one_of(
        st.binary(max_size=40),
        st.floats().map(lambda x: repr(x).encode()),
        st.dictionaries(st.sampled_from(["value", "rssi", "msg", "time"]), st.integers()).map(
            lambda d: json.dumps(d).encode()
        ),
    ).filter(lambda b: not b.endswith(b"\0")),
    st.integers(min_value=1, max_value=3),
)
def test_trailing_nuls_never_change_the_outcome(topic: str, payload: bytes, nuls: int) -> None:
    plain = interpret(topic, payload, RECEIVED)
    terminated = interpret(topic, payload + b"\0" * nuls, RECEIVED)
    if isinstance(plain, Rejected):
        assert isinstance(terminated, Rejected) and terminated.reason is plain.reason
    else:
        assert isinstance(terminated, Accepted) and terminated.nul_stripped
        assert dataclasses.replace(terminated, nul_stripped=False) == plain


def test_only_nul_bytes_is_an_empty_payload() -> None:
    assert rejected("gh-1/temperature", b"\0\0").reason is R.EMPTY_PAYLOAD


def test_composed_and_decomposed_module_ids_are_one_module() -> None:
    composed = accepted("gew\u00e4chshaus/temperature", "20")
    decomposed = accepted("gewa\u0308chshaus/temperature", "20")
    assert composed.module_id == decomposed.module_id == "gew\u00e4chshaus"
    assert composed.measurement == decomposed.measurement
    assert decomposed.topic == "gew\u00e4chshaus/temperature"
    status = accepted("m/sensors/status", json.dumps({"tempe\u0301rature": {"status": "ok"}}))
    assert status.status is not None and list(status.status.sensors) == ["temp\u00e9rature"]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("gh-5/bmp280/pressure", "1150"),
        ("gh-5/sps30/pm25", "1500"),
        ("gh-5/ds18b20/temperature", "-55"),
    ],
)
def test_seed_firmware_readings_are_accepted(topic: str, payload: str) -> None:
    assert accepted(topic, payload).value == float(payload)


@pytest.mark.parametrize("payload", ["85", "85.0", "-127", '{"value": 85}'])
def test_ds18b20_power_on_and_disconnected_values_are_sentinels(payload: str) -> None:
    result = rejected("gh-5/ds18b20/temperature", payload)
    assert result.reason is R.SENTINEL


def test_operator_ranges_apply_through_the_rules(tmp_path: Path) -> None:
    override = tmp_path / "ranges.toml"
    override.write_text("[types.radon]\nmin = 0\nmax = 1000\n")
    rules = InterpretRules(ranges=SensorRanges.load(override))
    assert rejected("m/radon", "1001", rules).reason is R.OUT_OF_RANGE
    assert accepted("m/radon", "1001").kind is MessageKind.MEASUREMENT
