"""Status topics (`system`, `system/config`, `hardware/config`, `sensors/status`,
`sensors/config`): which columns of which status table a message sets.

Only fields the message holds and that can be read are set; an unreadable one keeps the stored
value and is reported in `Accepted.ignored_fields` (see `sensorhub.ingest.fields`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from sensorhub.ingest.clock import boot_time
from sensorhub.ingest.fields import (
    IgnoredReason,
    Reader,
    read_bool,
    read_int,
    read_positive_int,
    read_reading,
    text_reader,
)
from sensorhub.ingest.messages import Accepted, MessageKind, StatusUpdate
from sensorhub.ingest.normalize import clean_json, nfc
from sensorhub.ingest.rules import InterpretRules
from sensorhub.ingest.topics import ParsedTopic, is_valid_id

MAX_TEXT_LENGTH: Final = 64

FieldSpec = tuple[str | None, str, str, Reader]
"""(enclosing object or None for the top level, JSON key, column, reader)."""
Ignored = list[tuple[str, str]]

_text = text_reader(MAX_TEXT_LENGTH)

_MEMORY_NOW: Final[tuple[FieldSpec, ...]] = (
    ("memory", "heapFreeKb", "heap_free_kb", read_int),
    ("memory", "heapMinFreeKb", "heap_min_free_kb", read_int),
)
FIELDS: Final[dict[MessageKind, tuple[FieldSpec, ...]]] = {
    MessageKind.SYSTEM: ((None, "rssi", "rssi", read_int), *_MEMORY_NOW),
    MessageKind.SYSTEM_CONFIG: (
        (None, "ip", "ip", _text),
        (None, "mac", "mac", _text),
        (None, "uptimeStart", "uptime_start", _text),
        (None, "moduleType", "module_type", _text),
        # The seed firmware's newer library also reports these here (as `system` does).
        (None, "rssi", "rssi", read_int),
        *_MEMORY_NOW,
        ("flash", "usedKb", "flash_used_kb", read_int),
        ("flash", "freeKb", "flash_free_kb", read_int),
        ("flash", "systemKb", "flash_system_kb", read_int),
        ("flash", "totalKb", "flash_total_kb", read_int),
        ("memory", "heapTotalKb", "heap_total_kb", read_int),
    ),
    MessageKind.HARDWARE_CONFIG: (
        ("chip", "model", "chip_model", _text),
        ("chip", "rev", "chip_rev", read_int),
        ("chip", "cpuFreqMhz", "cpu_freq_mhz", read_int),
        ("chip", "flashKb", "flash_kb", read_int),
        ("chip", "cores", "cores", read_int),
    ),
    MessageKind.SENSOR_STATUS: ((None, "moduleType", "module_type", _text),),
    MessageKind.SENSOR_CONFIG: (),
}
"""The module-level columns each status kind sets."""

SENSOR_FIELDS: Final[dict[MessageKind, tuple[tuple[str, str, Reader], ...]]] = {
    # `value: null` is stored: it is how a sensor reports that it has no reading (disabled).
    MessageKind.SENSOR_STATUS: (("status", "status", _text), ("value", "value", read_reading)),
    MessageKind.SENSOR_CONFIG: (
        ("interval", "interval_s", read_positive_int),
        ("model", "model", _text),
        ("enabled", "enabled", read_bool),
    ),
}
"""The per-sensor columns (`sensor_status`, `sensor_config`): (JSON key, column, reader)."""


def interpret_status(
    parsed: ParsedTopic,
    document: dict[str, object],
    received_at: datetime,
    rules: InterpretRules,
    nul_stripped: bool = False,
) -> Accepted:
    """The status update of one status message; stamped with the receive time.

    `uptimeStart` in `system/config` also sets `booted_at` (see `clock.boot_time`).
    """
    kind = parsed.kind
    ignored: Ignored = []
    fields = _pick_fields(document, FIELDS[kind], ignored)
    if kind is MessageKind.SYSTEM_CONFIG and "uptimeStart" in document:
        booted_at = boot_time(document["uptimeStart"], received_at, rules)
        if isinstance(booted_at, IgnoredReason):
            if "uptime_start" in fields:  # the text was readable: report the boot time instead
                ignored.append(("uptimeStart", booted_at.value))
        else:
            fields["booted_at"] = booted_at
    sensors: dict[str, dict[str, object]] = {}
    sensor_fields = SENSOR_FIELDS.get(kind)
    if sensor_fields is not None:
        sensors = _pick_sensors(document, sensor_fields, ignored)
    metadata = clean_json(document)
    assert isinstance(metadata, dict)
    return Accepted(
        parsed.topic,
        parsed.module_id,
        kind,
        received_at,
        status=StatusUpdate(kind, parsed.module_id, fields, sensors),
        metadata=metadata,
        ignored_fields=tuple(ignored),
        nul_stripped=nul_stripped,
    )


def _pick_fields(
    document: Mapping[str, object], specs: tuple[FieldSpec, ...], ignored: Ignored
) -> dict[str, object]:
    fields: dict[str, object] = {}
    bad_sections: set[str] = set()
    for section, key, column, read in specs:
        if section is None:
            source: object = document
        elif section not in document or section in bad_sections:
            continue
        else:
            source = document[section]
            if not isinstance(source, dict):
                bad_sections.add(section)
                reason = IgnoredReason.NULL if source is None else IgnoredReason.WRONG_TYPE
                ignored.append((section, reason.value))
                continue
        assert isinstance(source, dict)
        if key in source:
            value = read(source[key])
            if isinstance(value, IgnoredReason):
                ignored.append((key if section is None else f"{section}.{key}", value.value))
            else:
                fields[column] = value
    return fields


def _pick_sensors(
    document: Mapping[str, object],
    specs: tuple[tuple[str, str, Reader], ...],
    ignored: Ignored,
) -> dict[str, dict[str, object]]:
    """Per-sensor columns, from `{"sensors": {type: {...}}}` or the flat `{type: {...}}`."""
    nested = document.get("sensors")
    entries = nested if isinstance(nested, dict) else document
    prefix = "sensors." if entries is nested else ""
    sensors: dict[str, dict[str, object]] = {}
    for name, entry in entries.items():
        sensor_type = nfc(name.strip())
        if not is_valid_id(sensor_type):
            continue
        if not isinstance(entry, dict):
            if entries is nested:  # in the flat form, other top-level fields are not sensors
                reason = IgnoredReason.NULL if entry is None else IgnoredReason.WRONG_TYPE
                ignored.append((f"{prefix}{name}", reason.value))
            continue
        row: dict[str, object] = {}
        for key, column, read in specs:
            if key in entry:
                value = read(entry[key])
                if isinstance(value, IgnoredReason):
                    ignored.append((f"{prefix}{name}.{key}", value.value))
                else:
                    row[column] = value
        sensors[sensor_type] = row
    return sensors
