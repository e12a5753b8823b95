"""Readers for the fields of status messages: a value to store, or why the field is ignored.

A field that is present but cannot be read (`"rssi": "-67 dBm"`, `"heapFreeKb": true`, a number
beyond a PostgreSQL `integer`) counts as not reported: it is left out of the status update so the
stored value stays, and its reason is reported (and counted) instead. No reader returns None for
an unreadable value; JSON `null` is ignored too, except where a reader says otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from sensorhub.ingest.normalize import clean_text, parse_number

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

_UNIT_SUFFIX: Final = re.compile(
    r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*[^\d\s.,+\-_].*", re.DOTALL
)
"""A number followed by a unit: `-67 dBm`, `151 KB`, `60s`, `25 °C`, `50%`."""


class IgnoredReason(StrEnum):
    """Why a present field was not stored; the value is a Prometheus label."""

    NULL = "null"
    BLANK = "blank"
    WRONG_TYPE = "wrong_type"
    """A boolean, object or array where a number or text is expected (or the reverse)."""
    UNIT_SUFFIX = "unit_suffix"
    NOT_A_NUMBER = "not_a_number"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    """Beyond a PostgreSQL `integer`, a non-positive interval, a negative uptime."""
    IMPLAUSIBLE_TIME = "implausible_time"
    """A boot time before 2020 (clock never set) or in the future."""


Reader = Callable[[object], object]
"""Field value → the value to store, or an `IgnoredReason`."""


def parse_text_number(text: str) -> float | IgnoredReason:
    """A finite number from text, or why not (`blank`, `unit_suffix`, `not_a_number`, ...)."""
    number = parse_number(text)
    if number is not None:
        return number
    stripped = text.strip()
    if not stripped:
        return IgnoredReason.BLANK
    if _UNIT_SUFFIX.fullmatch(stripped):
        return IgnoredReason.UNIT_SUFFIX
    try:
        if not math.isfinite(float(stripped)):
            return IgnoredReason.NOT_FINITE
    except ValueError:
        pass
    return IgnoredReason.NOT_A_NUMBER


def read_float(value: object) -> float | IgnoredReason:
    """A finite float from a JSON number or numeric text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else IgnoredReason.NOT_FINITE
    if isinstance(value, bool):
        return IgnoredReason.WRONG_TYPE
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return IgnoredReason.OUT_OF_RANGE
    if isinstance(value, str):
        return parse_text_number(value)
    return IgnoredReason.NULL if value is None else IgnoredReason.WRONG_TYPE


def read_reading(value: object) -> float | IgnoredReason | None:
    """Like `read_float`, but `null` is a value: a sensor's report that it has no reading."""
    return None if value is None else read_float(value)


def read_int(value: object) -> int | IgnoredReason:
    """A rounded number that fits a PostgreSQL `integer` (int32)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        real = read_float(value)
        if isinstance(real, IgnoredReason):
            return real
        number = round(real)
    return number if INT32_MIN <= number <= INT32_MAX else IgnoredReason.OUT_OF_RANGE


def read_positive_int(value: object) -> int | IgnoredReason:
    """A count of seconds: positive, at most int32; values between 0 and 1 round up to 1."""
    real = read_float(value)
    if isinstance(real, IgnoredReason):
        return real
    if real <= 0 or real > INT32_MAX:
        return IgnoredReason.OUT_OF_RANGE
    return max(1, round(real))


def read_bool(value: object) -> bool | IgnoredReason:
    """A JSON boolean, `0`/`1`, or the text `true`/`false` (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "false"):
            return word == "true"
        return IgnoredReason.BLANK if not word else IgnoredReason.WRONG_TYPE
    return IgnoredReason.NULL if value is None else IgnoredReason.WRONG_TYPE


def text_reader(max_length: int) -> Reader:
    """A reader of trimmed, cleaned text of at most `max_length` characters; numbers as text."""

    def read_text(value: object) -> str | IgnoredReason:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            return IgnoredReason.WRONG_TYPE
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return IgnoredReason.NOT_FINITE
            text = repr(value)
        else:
            return IgnoredReason.NULL if value is None else IgnoredReason.WRONG_TYPE
        text = clean_text(text).strip()[:max_length].rstrip()
        return text or IgnoredReason.BLANK

    return read_text
