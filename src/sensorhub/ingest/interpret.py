"""The single entry point of the ingest logic: one MQTT message → `Accepted` or `Rejected`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final

from sensorhub.ingest.messages import (
    Accepted,
    Interpretation,
    InvalidMessage,
    LogEntry,
    Measurement,
    MessageKind,
    Rejected,
    RejectReason,
    StatusUpdate,
)
from sensorhub.ingest.normalize import (
    clean_json,
    clean_text,
    is_plausible,
    parse_number,
    resolve_time,
    to_datetime,
    to_float,
    to_int,
    to_positive_int,
    to_text,
)
from sensorhub.ingest.sensor_ranges import in_range, range_for
from sensorhub.ingest.topics import ParsedTopic, is_valid_id, parse_topic

MAX_PAYLOAD_BYTES: Final = 65536
MAX_TEXT_LENGTH: Final = 64
MAX_LOG_LEVEL_LENGTH: Final = 16
MAX_LOG_MESSAGE_LENGTH: Final = 2000
MAX_DETAIL_LENGTH: Final = 200
MAX_TOPIC_ECHO_LENGTH: Final = 200
BOOT_TIME_FLOOR: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""An earlier `uptimeStart` comes from a module whose clock was never set."""

# NaN/Infinity literals are not numbers (docs/contract.md §3): decode them as null.
_DECODER: Final = json.JSONDecoder(parse_constant=lambda _: None)

Converter = Callable[[object], object]
FieldSpec = tuple[str | None, str, str, Converter]
"""(enclosing object or None for the top level, JSON key, column, converter)."""


def _short_text(value: object) -> str | None:
    return to_text(value, MAX_TEXT_LENGTH)


_FIELDS: Final[dict[MessageKind, tuple[FieldSpec, ...]]] = {
    MessageKind.SYSTEM: (
        (None, "rssi", "rssi", to_int),
        ("memory", "heapFreeKb", "heap_free_kb", to_int),
        ("memory", "heapMinFreeKb", "heap_min_free_kb", to_int),
    ),
    MessageKind.SYSTEM_CONFIG: (
        (None, "ip", "ip", _short_text),
        (None, "mac", "mac", _short_text),
        (None, "uptimeStart", "uptime_start", _short_text),
        (None, "moduleType", "module_type", _short_text),
        ("flash", "usedKb", "flash_used_kb", to_int),
        ("flash", "freeKb", "flash_free_kb", to_int),
        ("flash", "systemKb", "flash_system_kb", to_int),
        ("memory", "heapTotalKb", "heap_total_kb", to_int),
    ),
    MessageKind.HARDWARE_CONFIG: (
        ("chip", "model", "chip_model", _short_text),
        ("chip", "rev", "chip_rev", to_int),
        ("chip", "cpuFreqMhz", "cpu_freq_mhz", to_int),
        ("chip", "flashKb", "flash_kb", to_int),
        ("chip", "cores", "cores", to_int),
    ),
    MessageKind.SENSOR_STATUS: ((None, "moduleType", "module_type", _short_text),),
    MessageKind.SENSOR_CONFIG: (),
}
_SENSOR_FIELDS: Final[dict[MessageKind, tuple[tuple[str, str, Converter], ...]]] = {
    MessageKind.SENSOR_STATUS: (("status", "status", _short_text), ("value", "value", to_float)),
    MessageKind.SENSOR_CONFIG: (
        ("interval", "interval_s", to_positive_int),
        ("model", "model", _short_text),
    ),
}


def interpret(topic: str | bytes, payload: bytes, received_at: datetime) -> Interpretation:
    """Decide what one MQTT message means; never raises.

    Args:
        topic: The topic, as bytes when the client could not decode it as UTF-8.
        payload: The raw payload.
        received_at: When sensorhub received the message (naive means UTC).

    Returns:
        `Accepted` with the normalized content, or `Rejected` with a reason and a short detail.
    """
    try:
        return _interpret(topic, payload, received_at)
    except InvalidMessage as error:
        return Rejected(_echo_topic(topic), error.reason, _truncate(error.detail))
    except Exception as error:  # the guarantee: a bad message never stops ingest
        detail = f"unexpected {type(error).__name__}"
        return Rejected(_echo_topic(topic), RejectReason.INTERNAL_ERROR, detail)


def _interpret(topic: str | bytes, payload: bytes, received_at: datetime) -> Accepted:
    received_at = _as_utc(received_at)
    topic = _topic_text(topic)
    parsed = parse_topic(topic)
    text = _payload_text(payload)
    if parsed.kind is MessageKind.MEASUREMENT:
        return _measurement(topic, parsed, text, received_at)
    if parsed.kind is MessageKind.LOG:
        return _log(topic, parsed.module_id, text, received_at)
    return _status(topic, parsed, _json_object(text), received_at)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _topic_text(topic: str | bytes) -> str:
    if isinstance(topic, str):
        return topic
    try:
        return bytes(topic).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage(RejectReason.INVALID_TOPIC, "topic is not UTF-8") from None


def _payload_text(payload: bytes) -> str:
    if isinstance(payload, str):  # tolerated: some MQTT clients hand over text
        payload = payload.encode("utf-8", "surrogatepass")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidMessage(
            RejectReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}"
        )
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidMessage(
            RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {error.start}"
        ) from None
    return text.removeprefix("\ufeff")


def _json_object(text: str) -> dict[str, object]:
    document = _decode_json(text)
    if not isinstance(document, dict):
        raise InvalidMessage(
            RejectReason.INVALID_PAYLOAD, f"expected a JSON object, got {_json_type(document)}"
        )
    return document


def _decode_json(text: str) -> object:
    stripped = text.strip()
    if not stripped:
        raise InvalidMessage(RejectReason.EMPTY_PAYLOAD, "empty payload")
    try:
        return _DECODER.decode(stripped)
    except (ValueError, RecursionError):
        raise InvalidMessage(
            RejectReason.MALFORMED_JSON, f"not JSON: {_excerpt(stripped)}"
        ) from None


# --- measurements -----------------------------------------------------------------------------


def _measurement(topic: str, parsed: ParsedTopic, text: str, received_at: datetime) -> Accepted:
    assert parsed.sensor_type is not None and parsed.hardware_id is not None
    value = parse_number(text)  # fast path: the plain-number payload
    when, corrected = received_at, False
    if value is None:
        value, when, corrected = _measurement_document(text, received_at)
    if not in_range(parsed.sensor_type, value):
        low, high = range_for(parsed.sensor_type) or (value, value)
        raise InvalidMessage(
            RejectReason.OUT_OF_RANGE, f"{parsed.sensor_type}={value!r} outside [{low}, {high}]"
        )
    measurement = Measurement(when, parsed.module_id, parsed.sensor_type, parsed.hardware_id, value)
    return Accepted(
        topic,
        parsed.module_id,
        MessageKind.MEASUREMENT,
        when,
        measurement=measurement,
        value=value,
        clock_corrected=corrected,
    )


def _measurement_document(text: str, received_at: datetime) -> tuple[float, datetime, bool]:
    stripped = text.strip()
    if not stripped:
        raise InvalidMessage(RejectReason.EMPTY_PAYLOAD, "empty payload")
    try:
        document = _DECODER.decode(stripped)
    except (ValueError, RecursionError):
        if stripped[0] in "{[":
            raise InvalidMessage(
                RejectReason.MALFORMED_JSON, f"not JSON: {_excerpt(stripped)}"
            ) from None
        raise _not_a_number(stripped) from None
    raw_time: object = None
    if isinstance(document, dict):
        if "value" not in document:
            raise InvalidMessage(RejectReason.NOT_A_NUMBER, "JSON object without 'value'")
        raw_value = document["value"]
        raw_time = document.get("time")
    else:
        raw_value = document
    value = to_float(raw_value)
    if value is None:
        raise _not_a_number(raw_value)
    when, corrected = resolve_time(raw_time, received_at)
    return value, when, corrected


def _not_a_number(value: object) -> InvalidMessage:
    if isinstance(value, str):
        what = _excerpt(value)
    elif isinstance(value, float):
        what = "a non-finite number"
    else:
        what = _json_type(value)
    return InvalidMessage(RejectReason.NOT_A_NUMBER, f"no finite number in {what}")


# --- status messages --------------------------------------------------------------------------


def _status(
    topic: str, parsed: ParsedTopic, document: dict[str, object], received_at: datetime
) -> Accepted:
    kind = parsed.kind
    fields = _pick_fields(document, _FIELDS[kind])
    if kind is MessageKind.SYSTEM_CONFIG and "uptimeStart" in document:
        fields["booted_at"] = _boot_time(document["uptimeStart"], received_at)
    sensors: dict[str, dict[str, object]] = {}
    sensor_fields = _SENSOR_FIELDS.get(kind)
    if sensor_fields is not None:
        sensors = _pick_sensors(document, sensor_fields)
    status = StatusUpdate(kind, parsed.module_id, fields, sensors)
    metadata = clean_json(document)
    assert isinstance(metadata, dict)
    return Accepted(topic, parsed.module_id, kind, received_at, status=status, metadata=metadata)


def _pick_fields(document: Mapping[str, object], specs: tuple[FieldSpec, ...]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for section, key, column, convert in specs:
        source = document if section is None else document.get(section)
        if isinstance(source, dict) and key in source:
            fields[column] = convert(source[key])
    return fields


def _pick_sensors(
    document: Mapping[str, object], specs: tuple[tuple[str, str, Converter], ...]
) -> dict[str, dict[str, object]]:
    nested = document.get("sensors")
    entries = nested if isinstance(nested, dict) else document
    sensors: dict[str, dict[str, object]] = {}
    for name, entry in entries.items():
        sensor_type = name.strip()
        if isinstance(entry, dict) and is_valid_id(sensor_type):
            sensors[sensor_type] = {
                column: convert(entry[key]) for key, column, convert in specs if key in entry
            }
    return sensors


def _boot_time(value: object, received_at: datetime) -> datetime | None:
    booted_at = to_datetime(value)
    if booted_at is None or booted_at < BOOT_TIME_FLOOR:
        return None
    if booted_at > received_at and not is_plausible(booted_at, received_at):
        return None
    return booted_at


# --- logs -------------------------------------------------------------------------------------


def _log(topic: str, module_id: str, text: str, received_at: datetime) -> Accepted:
    stripped = clean_text(text).strip()
    if not stripped:
        raise InvalidMessage(RejectReason.EMPTY_PAYLOAD, "empty payload")
    document = _log_document(stripped)
    if document is None:  # plain text log line
        message = stripped[:MAX_LOG_MESSAGE_LENGTH].rstrip()
        level, when, corrected = "info", received_at, False
        metadata: dict[str, object] = {"level": level, "msg": message}
    else:
        raw_message = document.get("msg", document.get("message"))
        found = to_text(raw_message, MAX_LOG_MESSAGE_LENGTH)
        if found is None:
            raise InvalidMessage(RejectReason.INVALID_PAYLOAD, "log without a text 'msg'")
        message = found
        level = (to_text(document.get("level"), MAX_LOG_LEVEL_LENGTH) or "info").lower()
        when, corrected = resolve_time(document.get("time"), received_at)
        cleaned = clean_json(document)
        assert isinstance(cleaned, dict)
        metadata = cleaned
    entry = LogEntry(when, module_id, level, message)
    return Accepted(
        topic,
        module_id,
        MessageKind.LOG,
        when,
        log=entry,
        metadata=metadata,
        clock_corrected=corrected,
    )


def _log_document(text: str) -> dict[str, object] | None:
    if not text.startswith("{"):
        return None
    try:
        document = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


# --- safe details -----------------------------------------------------------------------------


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _excerpt(text: str, limit: int = 60) -> str:
    """A quoted, escaped excerpt: control and bidi characters cannot reach a log line raw."""
    shown = repr(text[:limit])
    return shown + "…" if len(text) > limit else shown


def _truncate(text: str, limit: int = MAX_DETAIL_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _echo_topic(topic: object) -> str:
    try:
        if isinstance(topic, bytes | bytearray | memoryview):
            topic = bytes(topic).decode("utf-8", "backslashreplace")
        if not isinstance(topic, str):
            return f"<{type(topic).__name__}>"
        shown = topic[: MAX_TOPIC_ECHO_LENGTH + 1]
        if not shown.isprintable():
            shown = repr(shown)[1:-1]
        return _truncate(shown, MAX_TOPIC_ECHO_LENGTH)
    except Exception:  # must not raise while reporting a rejection
        return "<unprintable topic>"
