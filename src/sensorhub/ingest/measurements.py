"""Measurement topics (`{module}/{sensor}`, `{module}/{hardware}/{sensor}`): one reading each.

The payload is a plain number (`21.5`, the most common form) or JSON: a number, or an object
`{"value": …, "time": …}`. Plain numbers take a fast path straight from the bytes.
"""

from __future__ import annotations

import math
from datetime import datetime

from sensorhub.ingest.clock import resolve_time
from sensorhub.ingest.messages import (
    Accepted,
    InvalidMessage,
    Measurement,
    MessageKind,
    RejectReason,
)
from sensorhub.ingest.normalize import parse_number, to_float
from sensorhub.ingest.payload import (
    MAX_PAYLOAD_BYTES,
    excerpt,
    json_type,
    parse_json,
    payload_bytes,
    payload_text,
)
from sensorhub.ingest.rules import InterpretRules
from sensorhub.ingest.topics import ParsedTopic

_MEASUREMENT = MessageKind.MEASUREMENT


def interpret_measurement(
    parsed: ParsedTopic,
    payload: bytes | bytearray | memoryview | str,
    received_at: datetime,
    rules: InterpretRules,
) -> Accepted:
    """The reading of one measurement message.

    Args:
        parsed: The measurement topic.
        payload: The raw payload.
        received_at: The receive time, tz-aware UTC.
        rules: Clock and range rules.

    Raises:
        InvalidMessage: PAYLOAD_TOO_LARGE, NOT_UTF8, EMPTY_PAYLOAD, MALFORMED_JSON, NOT_A_NUMBER,
            TOO_OLD, OUT_OF_RANGE or SENTINEL.
    """
    sensor_type, hardware_id = parsed.sensor_type, parsed.hardware_id
    assert sensor_type is not None and hardware_id is not None
    nul_stripped = False
    if type(payload) is not bytes or len(payload) > MAX_PAYLOAD_BYTES or payload.endswith(b"\0"):
        payload, nul_stripped = payload_bytes(payload)
    when, corrected, device_time = received_at, False, False
    if payload[:1] == b"{":  # a JSON object: skip the plain-number attempt
        value, when, corrected, device_time = _from_text(payload_text(payload), received_at, rules)
    else:
        try:  # the fast path: float() reads ASCII digits from bytes, around whitespace
            value = float(payload)
        except ValueError:
            value, when, corrected, device_time = _from_text(
                payload_text(payload), received_at, rules
            )
        else:
            if not math.isfinite(value) or b"_" in payload:  # `nan`, `inf`, `1_000`: not numbers
                raise _not_a_number(payload_text(payload).strip())
    bounds = rules.ranges.bounds(sensor_type, hardware_id)
    if bounds is not None:
        if value in bounds.sentinels:
            raise InvalidMessage(
                RejectReason.SENTINEL, f"{hardware_id}/{sensor_type}={value!r} means no reading"
            )
        if not bounds.low <= value <= bounds.high:
            raise InvalidMessage(
                RejectReason.OUT_OF_RANGE,
                f"{hardware_id}/{sensor_type}={value!r} outside [{bounds.low}, {bounds.high}]",
            )
    module_id = parsed.module_id
    return Accepted(
        parsed.topic,
        module_id,
        _MEASUREMENT,
        when,
        Measurement(when, module_id, sensor_type, hardware_id, value),
        None,
        None,
        value,
        None,
        corrected,
        device_time,
        (),
        nul_stripped,
    )


def _from_text(
    text: str, received_at: datetime, rules: InterpretRules
) -> tuple[float, datetime, bool, bool]:
    """(value, time, corrected, device_time) of a payload that is not a plain ASCII number."""
    stripped = text.strip()
    if not stripped:
        raise InvalidMessage(RejectReason.EMPTY_PAYLOAD, "empty payload")
    if stripped[0] != "{":
        number = parse_number(stripped)  # digits other than ASCII ones
        if number is not None:
            return number, received_at, False, False
    try:
        document = parse_json(stripped)
    except (ValueError, RecursionError):
        if stripped[0] in "{[":
            raise InvalidMessage(
                RejectReason.MALFORMED_JSON, f"not JSON: {excerpt(stripped)}"
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
    value = raw_value if type(raw_value) is float else to_float(raw_value)
    if value is None or not math.isfinite(value):
        raise _not_a_number(raw_value)
    when, corrected, device_time = resolve_time(raw_time, received_at, rules)
    return value, when, corrected, device_time


def _not_a_number(value: object) -> InvalidMessage:
    if isinstance(value, str):
        what = excerpt(value)
    elif isinstance(value, float):
        what = "a non-finite number"
    else:
        what = json_type(value)
    return InvalidMessage(RejectReason.NOT_A_NUMBER, f"no finite number in {what}")
