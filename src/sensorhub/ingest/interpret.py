"""The single entry point of the ingest logic: one MQTT message → `Accepted` or `Rejected`.

The topic says what a message is (`topics`); the payload is decoded once (`payload`) and read by
the module of its kind: `measurements`, `status` or `logs`. Times go through `clock`, ranges come
from `sensor_ranges`, and what depends on settings arrives as `InterpretRules`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sensorhub.ingest.logs import interpret_log
from sensorhub.ingest.measurements import interpret_measurement
from sensorhub.ingest.messages import (
    Accepted,
    Interpretation,
    InvalidMessage,
    MessageKind,
    Rejected,
    RejectReason,
)
from sensorhub.ingest.payload import (
    MAX_PAYLOAD_BYTES,
    decode_object,
    echo_topic,
    payload_bytes,
    payload_text,
    truncate,
)
from sensorhub.ingest.rules import DEFAULT_RULES, InterpretRules
from sensorhub.ingest.status import interpret_status
from sensorhub.ingest.topics import parse_topic

__all__ = ["MAX_PAYLOAD_BYTES", "InterpretRules", "interpret"]

_MEASUREMENT = MessageKind.MEASUREMENT


def interpret(
    topic: str | bytes,
    payload: bytes,
    received_at: datetime,
    rules: InterpretRules = DEFAULT_RULES,
) -> Interpretation:
    """Decide what one MQTT message means; never raises.

    Args:
        topic: The topic, as bytes when the client could not decode it as UTF-8.
        payload: The raw payload.
        received_at: When sensorhub received the message (naive means UTC).
        rules: Retention horizon, clock skew and plausible ranges (from Settings at start-up).

    Returns:
        `Accepted` with the normalized content, or `Rejected` with a reason and a short detail.
    """
    try:
        return _interpret(topic, payload, received_at, rules)
    except InvalidMessage as error:
        return Rejected(echo_topic(topic), error.reason, truncate(error.detail))
    except Exception as error:  # the guarantee: a bad message never stops ingest
        detail = f"unexpected {type(error).__name__}"
        return Rejected(echo_topic(topic), RejectReason.INTERNAL_ERROR, detail)


def _interpret(
    topic: str | bytes, payload: bytes, received_at: datetime, rules: InterpretRules
) -> Accepted:
    if received_at.tzinfo is not UTC:
        received_at = _as_utc(received_at)
    parsed = parse_topic(topic)
    if parsed.kind is _MEASUREMENT:
        return interpret_measurement(parsed, payload, received_at, rules)
    data, nul_stripped = payload_bytes(payload)
    text = payload_text(data)
    if parsed.kind is MessageKind.LOG:
        return interpret_log(parsed, text, received_at, rules, nul_stripped)
    return interpret_status(parsed, decode_object(text), received_at, rules, nul_stripped)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
