"""A batch: what one flush writes, with duplicates collapsed and status updates coalesced.

Its on-disk form (the spool record) is in sensorhub.ingest.spool_record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sensorhub.db import schema
from sensorhub.ingest.messages import (
    Accepted,
    LogEntry,
    Measurement,
    MessageKind,
    StatusUpdate,
)
from sensorhub.ingest.receipts import Receipt

KeyTime = float | datetime
"""A measurement's time in its key: epoch seconds (a float8 resolves every microsecond of
EXACT_SECONDS), else the datetime itself."""
MeasurementKey = tuple[KeyTime, str, str, str]
"""(time, module_id, sensor_type, hardware_id): the primary key of a measurement.

Epoch seconds rather than the tz-aware datetime: hashing an aware datetime (its UTC offset, a
shifted copy) cost about 0.5 µs per reading, more than `timestamp()`, and the write sends the
times as epoch seconds anyway (sensorhub.db.writes)."""
EXACT_SECONDS = (-(2.0**32), 2.0**32)
"""Epoch seconds a float8 resolves to the microsecond: 1833-11-24 to 2106-02-07."""


def key_datetime(time: KeyTime) -> datetime:
    """The tz-aware UTC datetime of a key's time (exact: see EXACT_SECONDS)."""
    return time if isinstance(time, datetime) else datetime.fromtimestamp(time, UTC)


MODULE_FIELDS_TABLE = {
    MessageKind.SYSTEM: str(schema.device_system_status.name),
    MessageKind.SYSTEM_CONFIG: str(schema.device_system_status.name),
    MessageKind.SENSOR_STATUS: str(schema.device_system_status.name),
    MessageKind.HARDWARE_CONFIG: str(schema.device_hardware.name),
}
"""Which table a message kind's module-level fields go to (columns: `db.writes.STATUS_TABLES`)."""
SENSOR_ROWS_TABLE = {
    MessageKind.SENSOR_STATUS: str(schema.sensor_status.name),
    MessageKind.SENSOR_CONFIG: str(schema.sensor_config.name),
}
"""Which table a message kind's per-sensor rows go to."""


@dataclass(slots=True)
class Batch:
    """Accepted messages waiting to be written together; the latest value of each key wins."""

    measurements: dict[MeasurementKey, float] = field(default_factory=dict)
    module_fields: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sensor_rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    last_seen: dict[str, datetime] = field(default_factory=dict)
    logs: list[LogEntry] = field(default_factory=list)
    # The receipts as columns (packet ids, digests, receive times as epoch seconds): the write
    # sends each column as one array, and appending to three lists is cheaper than building and
    # unzipping tuples.
    receipt_ids: list[int] = field(default_factory=list)
    receipt_digests: list[int] = field(default_factory=list)
    receipt_seconds: list[float] = field(default_factory=list)
    messages: int = 0
    # The last datetime turned into key seconds: a reading stored at its receive time and its
    # receipt share one datetime, converted once.
    _last_time: datetime | None = field(default=None, init=False, repr=False, compare=False)
    _last_key: KeyTime = field(default=0.0, init=False, repr=False, compare=False)
    far_times: bool = False
    """Whether a time outside EXACT_SECONDS was added (then measurement keys may hold
    datetimes)."""
    seen_seconds: dict[str, float] = field(default_factory=dict, compare=False)
    """The newest message time of each module added by the fast path (ingest/readings.py), in
    epoch seconds: `settle_seen` folds it into `last_seen` once, when the batch is sealed or
    taken, rather than a `datetime` per message."""

    def __len__(self) -> int:
        return self.messages

    @property
    def measurement_count(self) -> int:
        return len(self.measurements)

    @property
    def receipts(self) -> list[Receipt]:
        """The receipts of the batch's QoS 1 packets, in order of arrival."""
        times = [datetime.fromtimestamp(seconds, UTC) for seconds in self.receipt_seconds]
        return list(zip(self.receipt_ids, self.receipt_digests, times, strict=True))

    @receipts.setter
    def receipts(self, receipts: list[Receipt]) -> None:
        """Receive times are kept as epoch seconds: exact to the microsecond until 2106."""
        self.receipt_ids = [packet_id for packet_id, _, _ in receipts]
        self.receipt_digests = [code for _, code, _ in receipts]
        self.receipt_seconds = [received.timestamp() for _, _, received in receipts]

    @property
    def readings(self) -> dict[tuple[datetime, str, str, str], float]:
        """The measurements keyed by tz-aware datetimes, in order of arrival (for the spool)."""
        return {
            (key_datetime(t), m, s, h): value for (t, m, s, h), value in self.measurements.items()
        }

    def _key_time(self, moment: datetime) -> KeyTime:
        """`moment` as the time of a measurement key: epoch seconds within EXACT_SECONDS."""
        if moment is self._last_time:
            return self._last_key
        seconds = moment.timestamp()
        key: KeyTime = seconds
        if not EXACT_SECONDS[0] <= seconds < EXACT_SECONDS[1]:
            key, self.far_times = moment, True
        self._last_time, self._last_key = moment, key
        return key

    def put_measurement(
        self, time: datetime, module_id: str, sensor_type: str, hardware_id: str, value: float
    ) -> None:
        """Add one reading by its parts (as `add_measurement`)."""
        self.add_measurement(Measurement(time, module_id, sensor_type, hardware_id, value))

    def add(
        self,
        accepted: Accepted,
        *,
        retained: bool = False,
        device_time: bool = True,
        receipt: Receipt | None = None,
    ) -> None:
        """Add one accepted message.

        A `retained` delivery is an old message re-sent because sensorhub subscribed: it does not
        move `last_seen`, and its measurement or log row is kept only when it carries a device
        time (a time-less one would be stored again at every connection). A retained
        `sensors/config` is not a report at all: sensorhub publishes the desired configuration
        retained on that very topic, so taking it as reported would mark every module in sync.
        `receipt` records the receive time given to a QoS 1 packet (sensorhub.ingest.receipts).
        """
        self.messages += 1
        if receipt is not None:
            packet_id, code, received = receipt
            self.receipt_ids.append(packet_id)
            self.receipt_digests.append(code)
            seconds = self._key_time(received)
            self.receipt_seconds.append(seconds if type(seconds) is float else received.timestamp())
        if not retained:
            module_id, moment = accepted.module_id, accepted.time
            seen = self.last_seen.get(module_id)
            if seen is None or moment > seen:
                self.last_seen[module_id] = moment
        rows = device_time or not retained
        measurement = accepted.measurement
        if measurement is not None:  # the common case: nothing else to add
            if rows:
                self.add_measurement(measurement)
            return
        if accepted.status is not None and not (
            retained and accepted.kind is MessageKind.SENSOR_CONFIG
        ):
            self.add_status(accepted.status)
        if accepted.log is not None and rows:
            self.logs.append(accepted.log)

    def settle_seen(self) -> None:
        """Fold `seen_seconds` into `last_seen` (the later time wins)."""
        last_seen = self.last_seen
        for module_id, seconds in self.seen_seconds.items():
            moment = datetime.fromtimestamp(seconds, UTC)
            before = last_seen.get(module_id)
            if before is None or moment > before:
                last_seen[module_id] = moment
        self.seen_seconds.clear()

    def add_measurement(self, measurement: Measurement) -> None:
        key = (
            self._key_time(measurement.time),
            measurement.module_id,
            measurement.sensor_type,
            measurement.hardware_id,
        )
        measurements = self.measurements
        count = len(measurements)
        measurements[key] = measurement.value
        if len(measurements) == count:  # a key seen before: move it to the end, so that the
            del measurements[key]  # dict order stays the order of arrival
            measurements[key] = measurement.value

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
        other.settle_seen()
        self.messages += other.messages
        self.far_times = self.far_times or other.far_times
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
        self.receipt_ids.extend(other.receipt_ids)
        self.receipt_digests.extend(other.receipt_digests)
        self.receipt_seconds.extend(other.receipt_seconds)
