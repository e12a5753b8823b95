"""The spool's record format: one batch per record, MessagePack, with a format version.

A record is a MessagePack array whose first element is the format version (`SpoolRecordV1` is
version 1), encoded and decoded by msgspec. Records written before the format had a version are
JSON objects (they start with `{`); `decode` still reads them, so spooled data survives an
upgrade. A later version adds a new Struct with the next tag to `SpoolRecord` and a conversion in
`_to_batch`; old records keep their tag and stay readable.

Version 1 fields (times are UTC datetimes, MessagePack timestamps):
- `measurements`: [[time, module id, sensor type, hardware id, value], …]
- `module_fields`: [[table, module id, {column: value}], …]
- `sensor_rows`: [[table, module id, sensor type, {column: value}], …]
- `last_seen`: {module id: time}
- `logs`: [[time, module id, level, message], …]
- `receipts`: [[packet id, digest, receive time], …] (sensorhub.ingest.receipts)
- `messages`: how many MQTT messages the batch holds
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import LogEntry
from sensorhub.ingest.receipts import Receipt
from sensorhub.ingest.spool import Spool


class SpoolRecordV1(msgspec.Struct, array_like=True, tag=1, frozen=True):
    measurements: list[tuple[datetime, str, str, str, float]]
    module_fields: list[tuple[str, str, dict[str, Any]]]
    sensor_rows: list[tuple[str, str, str, dict[str, Any]]]
    last_seen: dict[str, datetime]
    logs: list[tuple[datetime, str, str, str]]
    receipts: list[tuple[int, int, datetime]]
    messages: int


SpoolRecord = SpoolRecordV1
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SpoolRecord)


def encode(batch: Batch) -> bytes:
    """The record of `batch` in the current format."""
    record = SpoolRecordV1(
        measurements=[(t, m, s, h, v) for (t, m, s, h), v in batch.readings.items()],
        module_fields=[(table, m, f) for (table, m), f in batch.module_fields.items()],
        sensor_rows=[(table, m, s, r) for (table, m, s), r in batch.sensor_rows.items()],
        last_seen=batch.last_seen,
        logs=[(e.time, e.module_id, e.level, e.message) for e in batch.logs],
        receipts=batch.receipts,
        messages=batch.messages,
    )
    return _encoder.encode(record)


def decode(data: bytes) -> Batch:
    """The batch of a record of any format version sensorhub ever wrote.

    Raises:
        msgspec.DecodeError / ValueError: the record is not a spool record.
    """
    if data[:1] == b"{":
        return _decode_unversioned_json(data)
    return _to_batch(_decoder.decode(data))


def spooled_receipts(spool: Spool) -> list[Receipt]:
    """The receipts of every batch in the spool, newest first (read once at start-up, so that a
    redelivery of a packet whose batch was spooled but not acknowledged keeps its time)."""
    receipts: list[Receipt] = []
    for segment in spool.segments():
        for record in spool.read_segment(segment):
            receipts.extend(decode(record).receipts)
    receipts.reverse()
    return receipts


def _to_batch(record: SpoolRecord) -> Batch:
    batch = Batch(messages=record.messages)
    for time, module, sensor, hardware, value in record.measurements:
        batch.put_measurement(time, module, sensor, hardware, value)
    for table, module, fields in record.module_fields:
        batch.module_fields[(table, module)] = fields
    for table, module, sensor, values in record.sensor_rows:
        batch.sensor_rows[(table, module, sensor)] = values
    batch.last_seen = dict(record.last_seen)
    batch.logs = [LogEntry(t, m, level, message) for t, m, level, message in record.logs]
    batch.receipts = list(record.receipts)
    return batch


_DATETIME_TAG = "$dt"


def _decode_unversioned_json(data: bytes) -> Batch:
    """Records of sensorhub before the versioned format (JSON; datetimes of status fields tagged
    as {"$dt": iso}); they carry no receipts."""
    document = json.loads(data)
    batch = Batch(messages=document["n"])
    for time, module, sensor, hardware, value in document["m"]:
        batch.put_measurement(datetime.fromisoformat(time), module, sensor, hardware, value)
    for table, module, fields in document["f"]:
        batch.module_fields[(table, module)] = {
            name: datetime.fromisoformat(value[_DATETIME_TAG])
            if isinstance(value, dict) and _DATETIME_TAG in value
            else value
            for name, value in fields.items()
        }
    for table, module, sensor, values in document["r"]:
        batch.sensor_rows[(table, module, sensor)] = values
    batch.last_seen = {m: datetime.fromisoformat(t) for m, t in document["s"].items()}
    batch.logs = [
        LogEntry(time=datetime.fromisoformat(t), module_id=m, level=lv, message=msg)
        for t, m, lv, msg in document["l"]
    ]
    return batch
