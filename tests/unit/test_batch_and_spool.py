"""Batches collapse duplicate keys and round-trip through the spool; the spool survives torn writes."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest import spool_record
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.messages import Accepted
from sensorhub.ingest.receipts import Receipts
from sensorhub.ingest.spool import Spool, SpoolFull

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def accepted(topic: str, payload: str, received: datetime = NOW) -> Accepted:
    result = interpret(topic, payload.encode(), received)
    assert isinstance(result, Accepted), result
    return result


def test_same_key_twice_keeps_the_last_value() -> None:
    batch = Batch()
    stamp = (NOW - timedelta(minutes=1)).isoformat()
    batch.add(accepted("m1/dht22/temperature", f'{{"value": 20, "time": "{stamp}"}}'))
    batch.add(accepted("m1/dht22/temperature", f'{{"value": 21, "time": "{stamp}"}}'))
    batch.add(accepted("m1/bmp280/temperature", f'{{"value": 22, "time": "{stamp}"}}'))
    assert batch.measurement_count == 2
    assert batch.messages == 3
    key = (NOW - timedelta(minutes=1), "m1", "temperature", "dht22")
    assert batch.readings[key] == 21


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b"]), st.floats(0, 9))))
def test_measurements_hold_each_key_once_latest_value_in_order_of_last_arrival(
    readings: list[tuple[int, str, float]],
) -> None:
    batch = Batch()
    expected: dict[tuple[datetime, str, str, str], float] = {}
    for minute, sensor, value in readings:
        stamp = (NOW - timedelta(minutes=minute)).isoformat()
        batch.add(accepted(f"m1/{sensor}", f'{{"value": {value}, "time": "{stamp}"}}'))
        key = (NOW - timedelta(minutes=minute), "m1", sensor, "default")
        expected.pop(key, None)
        expected[key] = value
    assert list(batch.readings.items()) == list(expected.items())


def test_status_updates_are_coalesced_per_module_latest_wins() -> None:
    batch = Batch()
    batch.add(accepted("m1/system", '{"rssi": -70, "memory": {"heapFreeKb": 100}}'))
    batch.add(accepted("m1/system", '{"rssi": -50}'))
    batch.add(accepted("m1/sensors/status", '{"co2": {"status": "ok", "value": 500}}'))
    batch.add(accepted("m1/sensors/status", '{"co2": {"status": "error"}}'))
    fields = batch.module_fields[("device_system_status", "m1")]
    assert fields["rssi"] == -50
    assert fields["heap_free_kb"] == 100, "a later message must not wipe fields it did not mention"
    assert batch.sensor_rows[("sensor_status", "m1", "co2")] == {"status": "error", "value": 500}


def test_merge_is_the_same_as_adding_in_order() -> None:
    first, second, together = Batch(), Batch(), Batch()
    messages = [
        ("m1/temperature", "20"),
        ("m1/system", '{"rssi": -60}'),
        ("m2/logs", '{"level": "warn", "msg": "low heap"}'),
        ("m1/temperature", "21"),
    ]
    for index, (topic, payload) in enumerate(messages):
        item = accepted(topic, payload)
        (first if index < 2 else second).add(item)
        together.add(item)
    first.merge(second)
    assert spool_record.encode(first) == spool_record.encode(together)


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(-40, 85)), max_size=30))
def test_batch_round_trips_through_the_spool_record(readings: list[tuple[str, float]]) -> None:
    batch = Batch()
    for index, (module, value) in enumerate(readings):
        stamp = (NOW - timedelta(seconds=index)).isoformat()
        batch.add(accepted(f"{module}/temperature", f'{{"value": {value!r}, "time": "{stamp}"}}'))
    batch.add(accepted("a/system/config", '{"ip": "10.0.0.2", "uptimeStart": 1764500000}'))
    batch.add(accepted("a/logs", "booted"), receipt=(7, 12345, NOW))
    restored = spool_record.decode(spool_record.encode(batch))
    assert restored.measurements == batch.measurements
    assert restored.readings == batch.readings
    assert restored.module_fields == batch.module_fields
    assert restored.last_seen == batch.last_seen
    assert restored.logs == batch.logs
    assert restored.receipts == batch.receipts
    assert restored.messages == batch.messages


def test_a_spool_written_by_the_unversioned_json_format_is_still_replayed() -> None:
    """tests/data/spool_v0 was written by sensorhub before the versioned record (commit 80500e6)."""
    spool = Spool(Path(__file__).parents[1] / "data" / "spool_v0", max_bytes=1 << 20)
    segment = spool.oldest_segment()
    assert segment is not None
    first, second = (spool_record.decode(r) for r in spool.read_segment(segment))
    t = datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=UTC)
    assert first.readings == {
        (t, "v0-a", "temperature", ""): 20.1,
        (t, "v0-a", "humidity", "dht22"): 55.5,
    }
    assert first.module_fields == {("device_system_status", "v0-a"): {"rssi": -67, "booted_at": t}}
    assert first.sensor_rows == {
        ("sensor_config", "v0-a", "co2"): {"interval_s": 30, "model": "scd30"}
    }
    assert first.last_seen == {"v0-a": t}
    assert [(e.module_id, e.level, e.message) for e in first.logs] == [("v0-a", "info", "booted")]
    assert first.messages == 5 and first.receipts == []
    assert list(second.measurements.values()) == [415.0]


def test_the_current_record_is_versioned_messagepack() -> None:
    batch = Batch()
    batch.add(accepted("a/temperature", "20.5"))
    data = spool_record.encode(batch)
    assert data[:1] != b"{" and data[1:2] == b"\x01", "an array whose first element is version 1"


def test_spool_replays_records_in_order_and_forgets_consumed_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10 << 20)
    for number in range(5):
        spool.append(f"record {number}".encode())
    segment = spool.oldest_segment()
    assert segment is not None
    assert list(spool.read_segment(segment)) == [f"record {n}".encode() for n in range(5)]
    spool.remove_segment(segment)
    assert spool.is_empty and spool.size_bytes == 0


def test_spool_survives_a_restart_and_ignores_a_torn_last_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10 << 20)
    spool.append(b"kept 1")
    spool.append(b"kept 2")
    spool.close()
    segment = next(tmp_path.glob("*.spool"))
    with segment.open("ab") as stream:
        stream.write(b"\x00\x00\x00\x10torn")  # a crash in the middle of the next append
    reopened = Spool(tmp_path, max_bytes=10 << 20)
    assert not reopened.is_empty
    oldest = reopened.oldest_segment()
    assert oldest is not None
    assert list(reopened.read_segment(oldest)) == [b"kept 1", b"kept 2"]


def test_spool_refuses_beyond_its_limit_and_keeps_what_it_had(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=64)
    spool.append(b"x" * 20)
    with pytest.raises(SpoolFull):
        spool.append(b"y" * 60)
    segment = spool.oldest_segment()
    assert segment is not None
    assert list(spool.read_segment(segment)) == [b"x" * 20]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_spool_write_error_is_reported_as_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool._active = Path("/dev/full")
    spool._active_file = os.open("/dev/full", os.O_WRONLY)
    with pytest.raises(SpoolFull):
        spool.append(b"data")


def test_receipts_of_spooled_batches_are_read_back_newest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10 << 20)
    older, newer = Batch(), Batch()
    older.receipts = [(1, 11, NOW), (2, 22, NOW)]
    newer.receipts = [(1, 33, NOW + timedelta(seconds=1))]
    spool.append(spool_record.encode(older))
    spool.append(spool_record.encode(newer))
    spool.close()
    known = Receipts(spool_record.spooled_receipts(Spool(tmp_path, max_bytes=10 << 20)))
    assert known.time_of(1, 33) == NOW + timedelta(seconds=1)
    assert known.time_of(1, 11) is None, "packet id 1 was reused: the newer receipt counts"
    assert known.time_of(2, 22) == NOW


def test_a_retained_sensors_config_is_not_taken_as_the_modules_report() -> None:
    """The retained copy on `{id}/sensors/config` is the desired configuration sensorhub
    published itself; only a live report may fill the reported side of the shadow."""
    batch = Batch()
    desired = accepted("gh-3/sensors/config", '{"co2": {"interval": 30}}')
    batch.add(desired, retained=True, device_time=False)
    assert batch.sensor_rows == {}
    batch.add(accepted("gh-3/sensors/config", '{"co2": {"interval": 60}}'))
    assert [values for values in batch.sensor_rows.values()] == [{"interval_s": 60}]


def test_times_a_float_cannot_resolve_keep_their_microseconds() -> None:
    """Keys hold epoch seconds only where a float8 resolves every microsecond (EXACT_SECONDS)."""
    far = datetime(2200, 1, 1, 0, 0, 0, 7, tzinfo=UTC)
    times = [far, far + timedelta(microseconds=1), NOW, NOW + timedelta(microseconds=1)]
    batch = Batch()
    for n, time in enumerate(times):
        batch.put_measurement(time, "m1", "temperature", "default", float(n))
    assert batch.far_times
    assert list(batch.readings) == [(t, "m1", "temperature", "default") for t in times]
    restored = spool_record.decode(spool_record.encode(batch))
    assert restored.readings == batch.readings and restored.far_times
