"""Status field readers: a value to store, or why the field is ignored — never None (issue 12.4)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.fields import (
    IgnoredReason,
    parse_text_number,
    read_bool,
    read_float,
    read_int,
    read_positive_int,
    read_reading,
    text_reader,
)

IR = IgnoredReason
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
READERS = [read_int, read_float, read_positive_int, read_bool, text_reader(64)]


@given(json_values)
def test_readers_never_raise_and_never_return_none(value: object) -> None:
    for read in READERS:
        result = read(value)
        assert result is not None, (read, value)
        assert isinstance(result, IgnoredReason) or type(result) in (int, float, bool, str)


@given(json_values)
def test_read_reading_gives_none_only_for_null(value: object) -> None:
    assert (read_reading(value) is None) is (value is None)


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
        (2**31, IR.OUT_OF_RANGE),  # does not fit a PostgreSQL integer
        (-(2**31) - 1, IR.OUT_OF_RANGE),
        (1e300, IR.OUT_OF_RANGE),
        (10**400, IR.OUT_OF_RANGE),
        ("-67 dBm", IR.UNIT_SUFFIX),  # the input
        ("151 KB", IR.UNIT_SUFFIX),
        ("60s", IR.UNIT_SUFFIX),
        ("25 °C", IR.UNIT_SUFFIX),
        ("50%", IR.UNIT_SUFFIX),
        (True, IR.WRONG_TYPE),
        (False, IR.WRONG_TYPE),
        ({"a": 1}, IR.WRONG_TYPE),
        ([1], IR.WRONG_TYPE),
        (None, IR.NULL),
        ("abc", IR.NOT_A_NUMBER),
        ("1_000", IR.NOT_A_NUMBER),
        ("", IR.BLANK),
        ("  ", IR.BLANK),
        (math.nan, IR.NOT_FINITE),
        ("NaN", IR.NOT_FINITE),
        (math.inf, IR.NOT_FINITE),
    ],
)
def test_read_int(value: object, expected: int | IgnoredReason) -> None:
    assert read_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (60, 60),
        ("60", 60),
        (59.6, 60),
        (0.05, 1),
        (0, IR.OUT_OF_RANGE),
        (-5, IR.OUT_OF_RANGE),
        (2**40, IR.OUT_OF_RANGE),
        ("60s", IR.UNIT_SUFFIX),  # issue 12.5's report
        (True, IR.WRONG_TYPE),
        (None, IR.NULL),
        ("x", IR.NOT_A_NUMBER),
    ],
)
def test_read_positive_int(value: object, expected: int | IgnoredReason) -> None:
    assert read_positive_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (" TRUE ", True),
        ("false", False),
        (2, IR.WRONG_TYPE),
        ("yes", IR.WRONG_TYPE),
        ("", IR.BLANK),
        ({}, IR.WRONG_TYPE),
        (None, IR.NULL),
    ],
)
def test_read_bool(value: object, expected: bool | IgnoredReason) -> None:
    assert read_bool(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  esp32  ", "esp32"),
        ("a\x00b", "ab"),
        ("x\ud800y", "x?y"),  # a lone surrogate cannot be stored as UTF-8
        (3, "3"),
        (2.5, "2.5"),
        ("", IR.BLANK),
        ("\x00", IR.BLANK),
        (True, IR.WRONG_TYPE),
        ({"a": 1}, IR.WRONG_TYPE),
        (None, IR.NULL),
        (math.nan, IR.NOT_FINITE),
    ],
)
def test_text_reader(value: object, expected: str | IgnoredReason) -> None:
    assert text_reader(64)(value) == expected


def test_text_reader_truncates_then_trims() -> None:
    assert text_reader(4)("abcdef") == "abcd"
    assert text_reader(5)(" abc  ef") == "abc"


def test_reading_null_is_a_value_but_unreadable_text_is_not() -> None:
    assert read_reading(None) is None
    assert read_reading("7") == 7.0
    assert read_reading("7 ppm") is IR.UNIT_SUFFIX


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["", " "]))
def test_numbers_as_text_are_numbers(x: float, pad: str) -> None:
    assert parse_text_number(f"{pad}{x!r}{pad}") == x
