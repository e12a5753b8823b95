"""Value normalization (docs/contract.md §3): numbers, text, names, timestamps, JSON."""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.normalize import (
    MAX_JSON_DEPTH,
    clean_json,
    clean_text,
    nfc,
    parse_number,
    to_datetime,
    to_float,
    to_text,
)

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


# --- names ------------------------------------------------------------------------------------


def test_nfc_joins_composed_and_decomposed_names() -> None:
    composed, decomposed = "gew\u00e4chshaus", "gewa\u0308chshaus"
    assert composed != decomposed
    assert nfc(composed) == nfc(decomposed) == composed
    assert nfc("greenhouse") == "greenhouse"


@given(st.text())
def test_nfc_is_idempotent_and_is_the_nfc_form(text: str) -> None:
    once = nfc(text)
    assert nfc(once) == once
    assert once == unicodedata.normalize("NFC", text)
    assert nfc(unicodedata.normalize("NFD", text)) == once
