"""Value normalization for module payloads (docs/contract.md §3): numbers, text, times, JSON."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_AHEAD: Final = timedelta(minutes=5)
MAX_BEHIND: Final = timedelta(days=7)
EPOCH_MS_THRESHOLD: Final = 1e11
"""Epoch values above this magnitude are milliseconds (1e11 s is the year 5138)."""
MAX_JSON_DEPTH: Final = 16


def parse_number(text: str) -> float | None:
    """A finite float from text such as `" 21.5 "`, or None (NaN, inf, `1_000`, words)."""
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or "_" in text:
        return None
    return number


def to_float(value: object) -> float | None:
    """A finite float from a JSON number or numeric string; booleans and the rest give None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return parse_number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def to_int(value: object) -> int | None:
    """A rounded int that fits a PostgreSQL `integer`, or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        real = to_float(value)
        if real is None:
            return None
        number = round(real)
    return number if INT32_MIN <= number <= INT32_MAX else None


def to_positive_int(value: object) -> int | None:
    """Like `to_int` for counts of seconds: positive values below 1 round up to 1."""
    real = to_float(value)
    if real is None or real <= 0 or real > INT32_MAX:
        return None
    return max(1, round(real))


def clean_text(text: str) -> str:
    """Drop NUL characters and replace lone surrogates: PostgreSQL text accepts neither."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def to_text(value: object, max_length: int) -> str | None:
    """Trimmed, cleaned text of at most `max_length` characters; numbers become their text."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        text = repr(value)
    else:
        return None
    text = clean_text(text).strip()[:max_length].rstrip()
    return text or None


def to_datetime(value: object) -> datetime | None:
    """A UTC datetime from epoch seconds or milliseconds (number or text) or ISO 8601 text.

    Naive ISO times are taken as UTC. Unparseable values and years outside 1..9999 give None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    number = parse_number(text)
    if number is not None:
        return _from_epoch(number)
    return _from_iso(text)


def is_plausible(when: datetime, received_at: datetime) -> bool:
    """Whether a device time is at most 5 minutes ahead of and 7 days behind the receive time."""
    return -MAX_BEHIND <= when - received_at <= MAX_AHEAD


def resolve_time(value: object, received_at: datetime) -> tuple[datetime, bool]:
    """The time to store for a message and whether the device time was replaced.

    No timestamp (missing, null, blank) means the receive time, uncorrected; an unparseable or
    implausible one means the receive time, corrected.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return received_at, False
    when = to_datetime(value)
    if when is None or not is_plausible(when, received_at):
        return received_at, True
    return when, False


def clean_json(value: object, depth: int = 0) -> object:
    """A JSON-safe copy: trimmed strings, blank strings and non-finite floats as None.

    Containers nested deeper than `MAX_JSON_DEPTH` are replaced by None.
    """
    if isinstance(value, str):
        return clean_text(value).strip() or None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list):
        if depth >= MAX_JSON_DEPTH:
            return None
        if isinstance(value, list):
            return [clean_json(item, depth + 1) for item in value]
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    return value


def _from_epoch(value: float) -> datetime | None:
    try:
        if abs(value) > EPOCH_MS_THRESHOLD:
            return EPOCH + timedelta(milliseconds=value)
        return EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        return None


def _from_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
