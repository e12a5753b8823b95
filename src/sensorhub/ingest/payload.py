"""Decoding a payload once: bytes → text → JSON, with the errors named; and safe excerpts.

Every check here raises `InvalidMessage`, which `interpret` turns into a counted rejection.
"""

from __future__ import annotations

import json
from typing import Final

from sensorhub.ingest.messages import InvalidMessage, RejectReason

MAX_PAYLOAD_BYTES: Final = 65536
MAX_DETAIL_LENGTH: Final = 200
MAX_TOPIC_ECHO_LENGTH: Final = 200

DECODER: Final = json.JSONDecoder()
"""Standard JSON plus `NaN` / `Infinity` literals, decoded as non-finite floats that every
reader refuses (they are not numbers) and `clean_json` turns into null."""


def payload_bytes(payload: bytes | bytearray | memoryview | str) -> tuple[bytes, bool]:
    """The payload as bytes without trailing NUL bytes, and whether there were any.

    Firmware that sends a C string with its terminator (`21.5\\0`) is repaired, not rejected.

    Raises:
        InvalidMessage: PAYLOAD_TOO_LARGE above `MAX_PAYLOAD_BYTES` (counted before stripping).
    """
    # Text is tolerated: some MQTT clients hand it over.
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise InvalidMessage(
            RejectReason.PAYLOAD_TOO_LARGE, f"{len(data)} bytes > {MAX_PAYLOAD_BYTES}"
        )
    if data.endswith(b"\0"):
        return data.rstrip(b"\0"), True
    return data, False


def payload_text(data: bytes) -> str:
    """UTF-8 text without a byte order mark.

    Raises:
        InvalidMessage: NOT_UTF8.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidMessage(
            RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {error.start}"
        ) from None
    return text.removeprefix("\ufeff")


def parse_json(stripped: str) -> object:
    """The JSON document of text without surrounding whitespace.

    Raises:
        ValueError: not one JSON document. RecursionError: nested too deeply.
    """
    document, end = DECODER.raw_decode(stripped)  # `decode` would match whitespace twice more
    if end != len(stripped):
        raise ValueError("extra data after the JSON document")
    return document


def decode_json(text: str) -> object:
    """The JSON document of a payload.

    Raises:
        InvalidMessage: EMPTY_PAYLOAD for blank text, MALFORMED_JSON otherwise.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidMessage(RejectReason.EMPTY_PAYLOAD, "empty payload")
    try:
        return parse_json(stripped)
    except (ValueError, RecursionError):
        raise InvalidMessage(
            RejectReason.MALFORMED_JSON, f"not JSON: {excerpt(stripped)}"
        ) from None


def decode_object(text: str) -> dict[str, object]:
    """The JSON object of a status payload.

    Raises:
        InvalidMessage: EMPTY_PAYLOAD, MALFORMED_JSON, or INVALID_PAYLOAD for another JSON type.
    """
    document = decode_json(text)
    if not isinstance(document, dict):
        raise InvalidMessage(
            RejectReason.INVALID_PAYLOAD, f"expected a JSON object, got {json_type(document)}"
        )
    return document


# --- safe details -----------------------------------------------------------------------------


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def excerpt(text: str, limit: int = 60) -> str:
    """A quoted, escaped excerpt: control and bidi characters cannot reach a log line raw."""
    shown = repr(text[:limit])
    return shown + "…" if len(text) > limit else shown


def truncate(text: str, limit: int = MAX_DETAIL_LENGTH) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def echo_topic(topic: object) -> str:
    """A printable, short form of any topic, for a rejection; never raises."""
    try:
        if isinstance(topic, bytes | bytearray | memoryview):
            topic = bytes(topic).decode("utf-8", "backslashreplace")
        if not isinstance(topic, str):
            return f"<{type(topic).__name__}>"
        shown = topic[: MAX_TOPIC_ECHO_LENGTH + 1]
        if not shown.isprintable():
            shown = repr(shown)[1:-1]
        return truncate(shown, MAX_TOPIC_ECHO_LENGTH)
    except Exception:  # must not raise while reporting a rejection
        return "<unprintable topic>"
