"""Value normalization for module payloads (docs/contract.md §3): numbers, text, names, times."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
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


def nfc(text: str) -> str:
    """Unicode NFC: `gewächshaus` composed and decomposed become one name; ASCII as is."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


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
        return epoch_to_datetime(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if ":" not in text:  # float() refuses any text with a colon: spare ISO times its exception
        number = parse_number(text)
        if number is not None:
            return epoch_to_datetime(number)
    return _from_iso(text)


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


def epoch_to_datetime(value: float) -> datetime | None:
    """A UTC datetime from epoch seconds, or milliseconds above 1e11; None when out of range."""
    try:
        seconds = value / 1000 if abs(value) > EPOCH_MS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
