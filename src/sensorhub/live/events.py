"""The live events' names and payloads (the contract is in docs/live-events.md).

`mqtt-message` is sensorhub's own event (one per handled message, every kind); `mqtt:data` is the
event the seed's Node backend emits and its Nuxt dashboard listens to (`useMqtt.ts`), built here
from the `mqtt-message` payload so the ingest path builds one dict per message whatever the
audience. Ingest hands over an `Accepted` result, or for a reading of its fast path a
`LiveReading` tuple (ingest/readings.py); `live_message` gives the same payload for both.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.ingest.readings import LiveReading

MQTT_MESSAGE: Final = "mqtt-message"
MQTT_DATA: Final = "mqtt:data"
MQTT_BATCH: Final = "mqtt:batch"
CONFIG_UPDATE: Final = "config-update"
PER_MESSAGE_EVENTS: Final = frozenset({MQTT_MESSAGE, MQTT_DATA})
DEFAULT_EVENTS: Final = frozenset({MQTT_DATA})
"""What a client that names no events receives: the seed dashboard's event, once per message."""

_SEED_SILENT: Final = frozenset({MessageKind.LOG.value})
"""Kinds the Node backend never emits as `mqtt:data` (it logs device logs instead)."""
_MEASUREMENT: Final = MessageKind.MEASUREMENT
LiveMessage = dict[str, Any] | LiveReading
"""What the fan-out delivers: an `mqtt-message` dict, or a fast-path reading (`reading_message`)."""
MAX_SECONDS_CACHED: Final = 4096
_SECOND_TEXT: dict[float, str] = {}
"""Whole epoch seconds → their ISO 8601 text without `Z` (`reading_time`)."""
MAX_HEADS_CACHED: Final = 65_536
_HEADS: dict[str, tuple[str, bytes]] = {}
"""Topic → (module id, the start of its readings' `mqtt-message` packet) (`reading_packet`)."""
_SECOND_BYTES: dict[float, bytes] = {}
"""Whole epoch seconds → their ISO 8601 text without `Z`, UTF-8 (`reading_packet`)."""
_METADATA_TIME: Final = b',"metadata":null,"time":"'


def live_message(body: Accepted | LiveReading) -> dict[str, Any]:
    """The `mqtt-message` payload of what ingest handed to the live sink (`mqtt_message`)."""
    if isinstance(body, tuple):
        return reading_message(body)
    return mqtt_message(body)


def mqtt_message(accepted: Accepted) -> dict[str, Any]:
    """The `mqtt-message` payload `{topic, moduleId, kind, value, metadata, time}`.

    `value` is the number of a measurement (None otherwise), `metadata` the cleaned JSON object
    of a status, configuration or log message (None for measurements), `time` ISO 8601 UTC with
    a `Z` (the message time after the clock check).
    """
    return {
        "topic": accepted.topic,
        "moduleId": accepted.module_id,
        "kind": accepted.kind,  # a StrEnum: a str; `.value` costs an enum property lookup
        "value": accepted.value,
        "metadata": dict(accepted.metadata) if accepted.metadata is not None else None,
        "time": iso_utc(accepted.time),
    }


def reading_message(reading: LiveReading) -> dict[str, Any]:
    """The `mqtt-message` payload of a fast-path reading `(topic, module id, value, epoch
    seconds)`: what `mqtt_message` gives for the `Accepted` the general path builds for it (the
    same keys in the same order, `kind` the same member, the time the same microsecond:
    `datetime.fromtimestamp` of the seconds is exact within `batch.EXACT_SECONDS`, the only
    times the fast path stores).
    """
    topic, module_id, value, seconds = reading
    return {
        "topic": topic,
        "moduleId": module_id,
        "kind": _MEASUREMENT,
        "value": value,
        "metadata": None,
        "time": reading_time(seconds),
    }


def reading_packet(reading: LiveReading) -> bytes:
    """The engine.io MESSAGE packet carrying the Socket.IO `mqtt-message` EVENT of a fast-path
    reading, as UTF-8: `42["mqtt-message",{…}]`, byte for byte `b"4" + BoundedFanout.encode(
    MQTT_MESSAGE, reading_message(reading))` (orjson, compact; tests/unit/test_live_events.py).

    Built without the dict: the part up to the value is cached per topic (its module id checked),
    the value is orjson's text of the float, the time `reading_time`'s text made as bytes.
    """
    topic, module_id, value, seconds = reading
    head = _HEADS.get(topic)
    if head is None or head[0] != module_id:
        if len(_HEADS) >= MAX_HEADS_CACHED:
            _HEADS.clear()
        head = _HEADS[topic] = (
            module_id,
            b'42["mqtt-message",{"topic":'
            + orjson.dumps(topic)
            + b',"moduleId":'
            + orjson.dumps(module_id)
            + b',"kind":'
            + orjson.dumps(_MEASUREMENT)
            + b',"value":',
        )
    fraction, whole = math.modf(seconds)
    micro = round(fraction * 1e6)
    if not 0 < micro < 1_000_000 or whole < 0:
        stamp = reading_time(seconds).encode() + b'"}]'
    else:
        text = _SECOND_BYTES.get(whole)
        if text is None:
            if len(_SECOND_BYTES) >= MAX_SECONDS_CACHED:
                _SECOND_BYTES.clear()
            text = _SECOND_BYTES[whole] = reading_time(whole).encode()[:-1]
        stamp = b'%b.%06dZ"}]' % (text, micro)
    return head[1] + orjson.dumps(value) + _METADATA_TIME + stamp


def reading_time(seconds: float) -> str:
    """`iso_utc(datetime.fromtimestamp(seconds, UTC))`, the whole second's text cached.

    The microseconds are rounded as `datetime.fromtimestamp` rounds them (the fraction times
    10⁶, half to even); a fraction that rounds to 0 or to a whole second, and a time before
    1970, take `fromtimestamp` itself.
    """
    fraction, whole = math.modf(seconds)
    micro = round(fraction * 1e6)
    if not 0 < micro < 1_000_000 or whole < 0:
        return iso_utc(datetime.fromtimestamp(seconds, UTC))
    text = _SECOND_TEXT.get(whole)
    if text is None:
        if len(_SECOND_TEXT) >= MAX_SECONDS_CACHED:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[whole] = iso_utc(datetime.fromtimestamp(whole, UTC))[:-1]
    return f"{text}.{micro:06d}Z"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z` (`2026-01-01T00:00:00.123456Z`); `moment` is tz-aware.

    The same text as `isoformat()` with `Z` for `+00:00` (no fraction when the microseconds
    are 0), made by orjson in a fifth of the time. Ingest times are already UTC, so the
    conversion is skipped for them.
    """
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return orjson.dumps(moment, option=orjson.OPT_UTC_Z)[1:-1].decode()


def mqtt_data(message: dict[str, Any]) -> dict[str, Any] | None:
    """The seed's `mqtt:data` payload `{topic, value, time, metadata}` for an `mqtt-message`.

    As the Node backend builds it (`mqttMessageHandler.ts`, `prepareWebSocketData`): measurements
    carry `value` and `metadata: null`; the five status and configuration topics carry
    `value: null` and the parsed JSON as `metadata`, except a nested `sensors/status`
    (`{moduleId, moduleType, sensors: {...}}`), whose metadata is its `sensors` object (what the
    dashboard merges into the module's sensor states). Device logs have no `mqtt:data` (None).
    """
    kind = message["kind"]
    if kind in _SEED_SILENT:
        return None
    metadata = message["metadata"]
    if kind == MessageKind.SENSOR_STATUS.value and isinstance(metadata, dict):
        nested = metadata.get("sensors")
        if isinstance(nested, dict):
            metadata = nested
    return {
        "topic": message["topic"],
        "value": message["value"],
        "time": message["time"],
        "metadata": metadata,
    }
