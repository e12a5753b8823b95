"""Value normalization (docs/contract.md §3) and the sensor range table (docs/contract.md §2)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.normalize import (
    MAX_JSON_DEPTH,
    clean_json,
    clean_text,
    parse_number,
    resolve_time,
    to_datetime,
    to_float,
    to_int,
    to_positive_int,
    to_text,
)
from sensorhub.ingest.sensor_ranges import SENSOR_RANGES, in_range, range_for

RECEIVED = datetime(2025, 11, 30, 19, 0, tzinfo=UTC)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
spaces = st.text(" \t\r\n", max_size=3)


# --- numbers ----------------------------------------------------------------------------------


@given(finite_floats, spaces, spaces)
def test_every_finite_float_as_text_parses_back_exactly(x: float, left: str, right: str) -> None:
    assert parse_number(f"{left}{x!r}{right}") == x
    assert to_float(f"{left}{x!r}{right}") == x


@given(st.integers(min_value=-(10**15), max_value=10**15), spaces)
def test_integer_text_parses(n: int, pad: str) -> None:
    assert parse_number(f"{pad}{n}{pad}") == float(n)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "21,5",
        "0x10",
        "1_000",
        "nan",
        "NaN",
        "-nan",
        "inf",
        "-Infinity",
        "infinity",
        "1e999",
        "-1e999",
        "true",
        "21.5.1",
        "{}",
        "null",
    ],
)
def test_not_numbers(text: str) -> None:
    assert parse_number(text) is None
    assert to_float(text) is None


@pytest.mark.parametrize(
    "value",
    [True, False, None, {}, {"value": 1}, [], [1.0], math.nan, math.inf, -math.inf, 10**400, b"1"],
)
def test_to_float_rejects_non_numbers(value: object) -> None:
    assert to_float(value) is None


@given(finite_floats)
def test_to_float_keeps_finite_floats(x: float) -> None:
    assert to_float(x) == x


def test_to_float_converts_ints_and_numeric_strings() -> None:
    assert to_float(3) == 3.0
    assert isinstance(to_float(3), float)
    assert to_float(" 21.5 ") == 21.5
    assert to_float("-4e2") == -400.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (123, 123),
        (-45, -45),
        ("12", 12),
        (" -7 ", -7),
        (123.7, 124),
        ("45.2", 45),
        (2**31 - 1, 2**31 - 1),
        (2**31, None),  # does not fit a PostgreSQL integer
        (-(2**31) - 1, None),
        (1e300, None),
        (True, None),
        (None, None),
        ("abc", None),
        ("", None),
        (math.nan, None),
        ({"a": 1}, None),
    ],
)
def test_to_int(value: object, expected: int | None) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (60, 60),
        ("60", 60),
        (59.6, 60),
        (0.05, 1),
        (0, None),
        (-5, None),
        (True, None),
        (None, None),
        ("x", None),
        (2**40, None),
    ],
)
def test_to_positive_int(value: object, expected: int | None) -> None:
    assert to_positive_int(value) == expected


# --- text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  esp32  ", "esp32"),
        ("", None),
        ("   ", None),
        ("a\x00b", "ab"),
        ("\x00", None),
        ("x\ud800y", "x?y"),  # a lone surrogate cannot be stored as UTF-8
        (3, "3"),
        (2.5, "2.5"),
        (True, None),
        (None, None),
        (math.nan, None),
        ({"a": 1}, None),
    ],
)
def test_to_text(value: object, expected: str | None) -> None:
    assert to_text(value, 64) == expected


def test_to_text_truncates_then_trims() -> None:
    assert to_text("abcdef", 4) == "abcd"
    assert to_text(" abc  ef", 5) == "abc"


@given(st.text())
def test_clean_text_is_always_encodable(text: str) -> None:
    cleaned = clean_text(text)
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-11-30T19:00:00Z", RECEIVED),
        ("2025-11-30T19:00:00.250Z", RECEIVED + timedelta(milliseconds=250)),
        ("2025-11-30T20:00:00+01:00", RECEIVED),
        ("2025-11-30T19:00:00", RECEIVED),  # naive means UTC
        (" 2025-11-30T19:00:00Z ", RECEIVED),
        (1764529200, RECEIVED),  # epoch seconds
        (1764529200.5, RECEIVED + timedelta(milliseconds=500)),
        (1764529200123, RECEIVED + timedelta(milliseconds=123)),  # epoch milliseconds
        ("1764529200", RECEIVED),
        (" 1764529200123 ", RECEIVED + timedelta(milliseconds=123)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("garbage", None),
        ("", None),
        (True, None),
        (None, None),
        ({"t": 1}, None),
        (math.nan, None),
        (math.inf, None),
        (1e20, None),  # milliseconds beyond year 9999
        (10**400, None),
        ("9999-12-31T23:59:59-01:00", None),
    ],
)
def test_to_datetime(value: object, expected: datetime | None) -> None:
    result = to_datetime(value)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


@given(st.integers(min_value=1_000_000_000, max_value=4_000_000_000))
def test_epoch_seconds_and_milliseconds_told_apart_by_magnitude(seconds: int) -> None:
    assert to_datetime(seconds) == to_datetime(seconds * 1000) == to_datetime(str(seconds * 1000))


@pytest.mark.parametrize(
    ("offset", "kept"),
    [
        (timedelta(0), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(minutes=6), False),
        (-timedelta(days=6), True),
        (-timedelta(days=7), True),
        (-timedelta(days=7, seconds=1), False),
        (-timedelta(days=8), False),
    ],
)
def test_clock_window(offset: timedelta, kept: bool) -> None:
    device_time = RECEIVED + offset
    assert resolve_time(device_time.isoformat(), RECEIVED) == (
        (device_time, False) if kept else (RECEIVED, True)
    )
    assert resolve_time(device_time.timestamp() * 1000, RECEIVED)[1] is not kept


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (RECEIVED, False)),  # no timestamp: receive time, not a correction
        ("", (RECEIVED, False)),
        ("  ", (RECEIVED, False)),
        (0, (RECEIVED, True)),  # 1970: module without NTP
        (12, (RECEIVED, True)),
        ("2999-01-01T00:00:00Z", (RECEIVED, True)),
        (32503680000000, (RECEIVED, True)),  # year 3000 in ms
        ("yesterday", (RECEIVED, True)),
        (True, (RECEIVED, True)),
        ([1], (RECEIVED, True)),
        (1764529140, (RECEIVED - timedelta(minutes=1), False)),
    ],
)
def test_resolve_time(value: object, expected: tuple[datetime, bool]) -> None:
    assert resolve_time(value, RECEIVED) == expected


def test_resolve_time_accepts_other_timezones() -> None:
    paris = timezone(timedelta(hours=1))
    when, corrected = resolve_time("2025-11-30T19:30:00+01:00", RECEIVED.astimezone(paris))
    assert (when, corrected) == (RECEIVED - timedelta(minutes=30), False)


# --- JSON for the live event ------------------------------------------------------------------


def test_clean_json_normalizes_leaves() -> None:
    document = {
        "a": " x ",
        "b": "",
        "c": math.nan,
        "d": [math.inf, "  ", 1, True, None],
        "e": {"f": "\x00 y"},
    }
    cleaned = clean_json(document)
    assert cleaned == {
        "a": "x",
        "b": None,
        "c": None,
        "d": [None, None, 1, True, None],
        "e": {"f": "y"},
    }
    json.dumps(cleaned, allow_nan=False)


def test_clean_json_caps_depth() -> None:
    deep: object = 1
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    cleaned = clean_json({"deep": deep})
    json.dumps(cleaned)
    depth, node = 0, cleaned
    while isinstance(node, dict | list):
        node = node["deep"] if isinstance(node, dict) else node[0]
        depth += 1
    assert depth == MAX_JSON_DEPTH
    assert node is None


# --- sensor ranges ------------------------------------------------------------------------------


def test_range_table_matches_spec() -> None:
    assert dict(SENSOR_RANGES) == {
        "temperature": (-40, 85),
        "humidity": (0, 100),
        "pressure": (300, 1100),
        "co2": (0, 10000),
        "eco2": (400, 60000),
        "tvoc": (0, 60000),
        "voc": (0, 500),
        "pm1": (0, 1000),
        "pm25": (0, 1000),
        "pm4": (0, 1000),
        "pm10": (0, 1000),
        "co": (0, 1000),
    }


@pytest.mark.parametrize(
    ("sensor_type", "value", "expected"),
    [
        ("temperature", -40.0, True),
        ("temperature", 85.0, True),
        ("temperature", 85.01, False),
        ("temperature", -40.01, False),
        ("Temperature", 200.0, False),  # ranges apply whatever the case
        ("eco2", 399.0, False),
        ("eco2", 400.0, True),
        ("co2", 10_001.0, False),
        ("radon", 1e9, True),  # unknown types have no range
        ("radon", -1e9, True),
    ],
)
def test_in_range(sensor_type: str, value: float, expected: bool) -> None:
    assert in_range(sensor_type, value) is expected


def test_range_for_unknown_is_none() -> None:
    assert range_for("radon") is None
    assert range_for("HUMIDITY") == (0.0, 100.0)
