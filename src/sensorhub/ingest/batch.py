"""A batch: what one flush writes, with duplicates collapsed and status updates coalesced."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sensorhub.ingest.messages import (
    Accepted,
    LogEntry,
    Measurement,
    MessageKind,
    StatusUpdate,
)

MeasurementKey = tuple[datetime, str, str, str]
"""(time, module_id, sensor_type, hardware_id): the primary key of a measurement."""

MODULE_FIELDS_TABLE = {
    MessageKind.SYSTEM: "device_system_status",
    MessageKind.SYSTEM_CONFIG: "device_system_status",
    MessageKind.SENSOR_STATUS: "device_system_status",
    MessageKind.HARDWARE_CONFIG: "device_hardware",
}
SENSOR_ROWS_TABLE = {
    MessageKind.SENSOR_STATUS: "sensor_status",
    MessageKind.SENSOR_CONFIG: "sensor_config",
}


@dataclass(slots=True)
class Batch:
    """Accepted messages waiting to be written together; the latest value of each key wins."""

    measurements: dict[MeasurementKey, float] = field(default_factory=dict)
    module_fields: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sensor_rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    last_seen: dict[str, datetime] = field(default_factory=dict)
    logs: list[LogEntry] = field(default_factory=list)
    messages: int = 0

    def __len__(self) -> int:
        return self.messages

    @property
    def measurement_count(self) -> int:
        return len(self.measurements)

    def add(self, accepted: Accepted) -> None:
        self.messages += 1
        seen = self.last_seen.get(accepted.module_id)
        if seen is None or accepted.time > seen:
            self.last_seen[accepted.module_id] = accepted.time
        if accepted.measurement is not None:
            self.add_measurement(accepted.measurement)
        if accepted.status is not None:
            self.add_status(accepted.status)
        if accepted.log is not None:
            self.logs.append(accepted.log)

    def add_measurement(self, measurement: Measurement) -> None:
        key = (
            measurement.time,
            measurement.module_id,
            measurement.sensor_type,
            measurement.hardware_id,
        )
        self.measurements.pop(key, None)  # re-insert so the dict order is the order of arrival
        self.measurements[key] = measurement.value

    def add_status(self, status: StatusUpdate) -> None:
        table = MODULE_FIELDS_TABLE.get(status.kind)
        if table is not None and status.fields:
            self.module_fields.setdefault((table, status.module_id), {}).update(status.fields)
        sensor_table = SENSOR_ROWS_TABLE.get(status.kind)
        if sensor_table is not None:
            for sensor_type, values in status.sensors.items():
                key = (sensor_table, status.module_id, sensor_type)
                self.sensor_rows.setdefault(key, {}).update(values)

    def merge(self, other: Batch) -> None:
        """Fold a later batch into this one (the later values win)."""
        self.messages += other.messages
        for key, value in other.measurements.items():
            self.measurements.pop(key, None)
            self.measurements[key] = value
        for module_key, fields in other.module_fields.items():
            self.module_fields.setdefault(module_key, {}).update(fields)
        for sensor_key, values in other.sensor_rows.items():
            self.sensor_rows.setdefault(sensor_key, {}).update(values)
        for module_id, seen in other.last_seen.items():
            if module_id not in self.last_seen or seen > self.last_seen[module_id]:
                self.last_seen[module_id] = seen
        self.logs.extend(other.logs)

    def to_json(self) -> bytes:
        document = {
            "m": [[t.isoformat(), m, s, h, v] for (t, m, s, h), v in self.measurements.items()],
            "f": [
                [table, module, _jsonable(fields)]
                for (table, module), fields in self.module_fields.items()
            ],
            "r": [
                [table, module, sensor, values]
                for (table, module, sensor), values in self.sensor_rows.items()
            ],
            "s": {module: seen.isoformat() for module, seen in self.last_seen.items()},
            "l": [[e.time.isoformat(), e.module_id, e.level, e.message] for e in self.logs],
            "n": self.messages,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Batch:
        document = json.loads(data)
        batch = cls(messages=document["n"])
        for time, module, sensor, hardware, value in document["m"]:
            batch.measurements[(datetime.fromisoformat(time), module, sensor, hardware)] = value
        for table, module, fields in document["f"]:
            batch.module_fields[(table, module)] = _from_jsonable(fields)
        for table, module, sensor, values in document["r"]:
            batch.sensor_rows[(table, module, sensor)] = values
        batch.last_seen = {m: datetime.fromisoformat(t) for m, t in document["s"].items()}
        batch.logs = [
            LogEntry(time=datetime.fromisoformat(t), module_id=m, level=lv, message=msg)
            for t, m, lv, msg in document["l"]
        ]
        return batch


_DATETIME_TAG = "$dt"


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {_DATETIME_TAG: value.isoformat()} if isinstance(value, datetime) else value
        for name, value in fields.items()
    }


def _from_jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        name: datetime.fromisoformat(value[_DATETIME_TAG])
        if isinstance(value, dict) and _DATETIME_TAG in value
        else value
        for name, value in fields.items()
    }
