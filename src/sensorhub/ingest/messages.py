"""What interpreting one MQTT message yields: an `Accepted` result or a `Rejected` one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class MessageKind(StrEnum):
    """What a topic carries (docs/contract.md §2); the value is the `kind` of the live event."""

    # Enum's own __hash__ runs in Python (0.3 µs per dict lookup on the ingest path); the
    # string's is the same value, computed in C.
    __hash__ = str.__hash__

    MEASUREMENT = "measurement"
    SYSTEM = "system"
    SYSTEM_CONFIG = "system_config"
    HARDWARE_CONFIG = "hardware_config"
    SENSOR_STATUS = "sensor_status"
    SENSOR_CONFIG = "sensor_config"
    LOG = "log"


class RejectReason(StrEnum):
    """Why a message was dropped; the value is a Prometheus label."""

    EMPTY_MODULE_ID = "empty_module_id"
    INVALID_TOPIC = "invalid_topic"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    EMPTY_PAYLOAD = "empty_payload"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    INVALID_PAYLOAD = "invalid_payload"
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    SENTINEL = "sentinel"
    """The hardware's own "no reading" value, such as a DS18B20's -127 °C or power-on 85 °C."""
    TOO_OLD = "too_old"
    """A plausible device time older than `RETAIN_FOR`: retention would delete it at once."""
    INTERNAL_ERROR = "internal_error"


# `Measurement` and `Accepted` are built for every message: not frozen, because a frozen
# dataclass's `__init__` sets each field through `object.__setattr__` and cost 1 µs of the
# 2.3 µs a plain reading took (bench/interpret_micro.py). Treat them as immutable all the same.


@dataclass(slots=True)
class Measurement:
    """One reading, keyed like a row of `measurements`; `time` is tz-aware UTC."""

    time: datetime
    module_id: str
    sensor_type: str
    hardware_id: str
    value: float


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """Columns to upsert for one module, holding only the keys its message mentioned.

    `fields` maps snake_case columns of `device_system_status` / `device_hardware` to values.
    `sensors` maps a sensor type to its `sensor_status` columns (`status`, `value`) or its
    `sensor_config` columns (`interval_s`, `model`, `enabled`); it is empty for the other kinds.
    A field the message held but that could not be read is left out (the stored value stays);
    it is listed in `Accepted.ignored_fields` instead.
    """

    kind: MessageKind
    module_id: str
    fields: Mapping[str, object]
    sensors: Mapping[str, Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One row of `device_logs`."""

    time: datetime
    module_id: str
    level: str
    message: str


@dataclass(slots=True)
class Accepted:
    """A message to store and broadcast.

    `time` is the message time after the clock check; `value` (measurements) and `metadata`
    (the normalized JSON object of status and log messages) feed the live event.
    `clock_corrected` is True when the device time was replaced by the receive time.
    `device_time` is True when `time` came from the payload and was kept; False when it is the
    receive time (no time sent, or corrected).
    `ignored_fields` lists `(field, reason)` for status fields that were present but unreadable,
    e.g. `("memory.heapFreeKb", "unit_suffix")`; `field` is the dotted JSON path and `reason` an
    `IgnoredReason` value (a Prometheus label).
    `nul_stripped` is True when trailing NUL bytes (a C-string firmware bug) were removed.
    """

    topic: str
    module_id: str
    kind: MessageKind
    time: datetime
    measurement: Measurement | None = None
    status: StatusUpdate | None = None
    log: LogEntry | None = None
    value: float | None = None
    metadata: Mapping[str, object] | None = None
    clock_corrected: bool = False
    device_time: bool = False
    ignored_fields: tuple[tuple[str, str], ...] = ()
    nul_stripped: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """A dropped message; `topic` and `detail` are escaped and short, so safe to log."""

    topic: str
    reason: RejectReason
    detail: str


Interpretation = Accepted | Rejected


class InvalidMessage(Exception):
    """Raised inside the ingest functions; `interpret` turns it into a `Rejected`."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
