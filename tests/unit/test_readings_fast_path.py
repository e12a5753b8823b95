"""The fast path of ingest (ingest/readings.py) stores exactly what the general path stores.

The same socket reads go through `FastReadings.accept_many` and, one by one, through
`IngestPipeline.accept` on two pipelines with the same clock: the batches (rows in order,
receipts, `last_seen`, status and log rows, where batches are sealed), the receipts on record,
the counters, the rejections reported and the PUBACK groups must be the same; with a live
listener, so must the live events, in order and byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sensorhub.ingest import pipeline as pipeline_module
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.delivery import AckGroup, Publish
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.spool import Spool
from sensorhub.live.events import MQTT_DATA, MQTT_MESSAGE, live_message, mqtt_data
from sensorhub.metrics import Metrics

NOW = datetime(2026, 12, 1, 6, 0, 0, 123457, tzinfo=UTC)
NOW_NS = int(NOW.timestamp() * 1e6) * 1000


class FixedClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW


def _iso(delta: timedelta) -> str:
    return (NOW + delta).isoformat()


TOPICS = st.sampled_from(
    [
        "m1/temperature",
        "m1/temperature",
        "m1/humidity",
        "m1/humidity",
        "m2/ds18b20/temperature",
        "m2/ds18b20_2/temperature",
        "m\u0301x/co2",  # NFC differs from the raw topic
        "m1/system",
        "m1/sensors/config",
        "m1/logs",
        "m1/sensors",  # reserved level: rejected
        "/temperature",  # empty module id
    ]
)
TIMES = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "junk", "2019-05-01T00:00:00Z", 12, 1.5, True, "1764566400"]),
    st.sampled_from(
        [timedelta(minutes=m) for m in (-1, -60, 4, 5, 6)]
        + [timedelta(hours=-h) for h in (2159, 2160, 2161, 2170, 2184, 2185, 3000)]
    ).map(_iso),
    st.integers(min_value=-(10**6), max_value=10**6).map(lambda s: NOW.timestamp() + s),
    st.integers(min_value=-(10**6), max_value=10**6).map(lambda s: int(NOW.timestamp() + s) * 1000),
    st.just(NOW.timestamp() + 300),  # on the skew limit
)
NUMBERS = st.one_of(
    st.sampled_from(["21.5", " 7 ", "-127", "85", "1e9", "nan", "inf", "1_000", "", "x", "٣"]),
    st.floats(allow_nan=False, min_value=-200, max_value=200).map(repr),
    st.integers(min_value=-130, max_value=130).map(str),
)
TIMED = st.builds(
    lambda value, time: json.dumps({"value": value, "time": time}).encode(),
    st.integers(-130, 130),
    TIMES,
)
PAYLOADS = st.one_of(
    NUMBERS.map(str.encode),
    TIMED,
    TIMED,
    NUMBERS.map(lambda n: n.encode() + b"\0"),
    st.builds(
        lambda value, time, extra: json.dumps(
            {"value": value, **({} if time is None else {"time": time}), **extra}
        ).encode(),
        st.one_of(st.integers(-130, 130), st.floats(-200, 200), st.just("21.5"), st.none()),
        TIMES,
        st.sampled_from([{}, {"unit": "C"}, {"nested": {"a": 1}}]),
    ),
    st.sampled_from([b"{", b'{"value": 1', b"[1]", b'{"rssi": -60}', b"booted", b"\xff"]),
)
FLAGS = st.sampled_from([2, 2, 2, 2, 0, 1, 3, 10])
PUBLISHES = st.lists(
    st.tuples(TOPICS, PAYLOADS, FLAGS, st.integers(1, 6)).map(
        lambda p: (p[0], p[1], p[2], p[3] if p[2] & 6 else None)
    ),
    min_size=1,
    max_size=40,
)


async def _write(batch: Batch) -> None:
    return None


def _pipeline(
    directory: Path, max_batch: int, heard: list[Any] | None = None
) -> tuple[IngestPipeline, IngestBuffer, list[Any]]:
    """A pipeline on a fixed clock; with `heard`, a live sink that always listens appends to it
    the `Accepted` results and `LiveReading` tuples it is handed."""
    metrics = Metrics()
    buffer = IngestBuffer(
        _write, Spool(directory, 1 << 20), metrics, max_size=100, max_age=60, max_batch=max_batch
    )
    rejects: list[Any] = []
    ingest = IngestPipeline(
        buffer,
        metrics,
        None if heard is None else heard.append,
        on_reject=lambda topic, reason: rejects.append((topic, reason)),
        listening=lambda: True,
        live_readings=None if heard is None else heard.extend,
    )
    ingest.fast.clock_ns = lambda: NOW_NS
    return ingest, buffer, rejects


def _frames(heard: list[Any]) -> list[bytes]:
    """The JSON of the `mqtt-message` and `mqtt:data` events of what a live sink was handed, as
    the fan-out encodes them (`BoundedFanout.encode`)."""
    frames = []
    for body in heard:
        message = live_message(body)
        frames.append(orjson.dumps([MQTT_MESSAGE, message]))
        frames.append(orjson.dumps([MQTT_DATA, mqtt_data(message)]))
    return frames


def _batches(buffer: IngestBuffer) -> list[tuple[Batch, Any]]:
    buffer._batch.settle_seen()  # as when the flusher takes it
    sealed = list(buffer._sealed)
    return [*sealed, (buffer._batch, buffer._batch_done)]


def _state(ingest: IngestPipeline, buffer: IngestBuffer, acks: list[list[AckGroup]]) -> Any:
    batches = _batches(buffer)
    futures = {id(done): n for n, (_, done) in enumerate(batches) if done is not None}
    rows = [
        (
            list(batch.measurements.items()),
            batch.last_seen,
            batch.receipt_ids,
            batch.receipt_digests,
            batch.receipt_seconds,
            batch.module_fields,
            batch.sensor_rows,
            batch.logs,
            batch.messages,
        )
        for batch, _ in batches
    ]
    groups = [
        [(None if done is None else futures[id(done)], mids) for done, mids in read]
        for read in acks
    ]
    receipts = {
        pid: ingest.receipts.time_of(pid, code) for pid, code in ingest.receipts.codes.items()
    }
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in ingest._metrics.registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    return rows, groups, receipts, samples


def _timed(delta: timedelta) -> bytes:
    return json.dumps({"value": 3, "time": _iso(delta)}).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(PUBLISHES, min_size=1, max_size=4), st.integers(1, 12), st.booleans())
@example([[("m1/t", _timed(timedelta(hours=-2161)), 2, 1)]], 5, True)  # just beyond RETAIN_FOR
@example([[("m1/t", b"1", 2, 1), ("m1/t", _timed(timedelta(minutes=-1)), 2, 2)]], 5, True)
@example([[("m1/co2", b"1_000", 2, 1), ("m1/co2", b"2.5\0", 2, 2)]], 5, True)
@example([[("m1/t", _timed(timedelta(minutes=5, microseconds=1)), 2, 1)]], 5, True)  # skew limit
@example([[("m\u0301x/co2", b"-0.0", 2, 1), ("m\u0301x/co2", b"1e9", 2, 2)]], 5, True)  # NFC
def test_the_fast_path_stores_what_the_general_path_stores(
    reads: list[list[Publish]], max_batch: int, listening: bool
) -> None:
    async def run() -> None:
        general_heard: list[Any] | None = [] if listening else None
        fast_heard: list[Any] | None = [] if listening else None
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            general, general_buffer, general_rejects = _pipeline(
                Path(one), max_batch, general_heard
            )
            fast, fast_buffer, fast_rejects = _pipeline(Path(two), max_batch, fast_heard)
            with mock.patch.object(pipeline_module, "datetime", FixedClock):
                general_acks = [general._each(list(read)) for read in reads]
                fast_acks = [fast.accept_many(list(read)) for read in reads]
            assert _state(fast, fast_buffer, fast_acks) == _state(
                general, general_buffer, general_acks
            )
            assert fast_rejects == general_rejects
            if general_heard is not None and fast_heard is not None:
                assert _frames(fast_heard) == _frames(general_heard)

    asyncio.run(run())


async def test_plain_readings_take_the_fast_path_and_the_rest_the_general_one(
    tmp_path: Path,
) -> None:
    ingest, buffer, _ = _pipeline(tmp_path, 100)
    ingest.fast.clock_ns = time.time_ns  # the device time below is the real now
    calls: list[str] = []
    general = ingest.accept

    def spy(delivery: Any) -> Any:
        calls.append(str(delivery.topic))
        return general(delivery)

    ingest.accept = spy  # type: ignore[method-assign]
    stamp = datetime.now(UTC).isoformat()
    acks = ingest.accept_many(
        [
            ("m/temperature", b"21.5", 2, 1),
            ("m/temperature", f'{{"value": 2, "time": "{stamp}"}}'.encode(), 2, 2),
            ("m/system", b'{"rssi": -60}', 2, 3),
            ("m/temperature", b"21.5", 10, 1),  # a redelivery
        ]
    )
    assert calls == ["m/system", "m/temperature"]
    assert len(buffer._batch.measurements) == 2 and buffer._batch.messages == 4
    assert acks == [(buffer._batch_done, [1, 2, 3, 1])]


async def test_a_listening_live_sink_hears_the_fast_path_readings_in_order(
    tmp_path: Path,
) -> None:
    """Readings reach `live_readings` a run at a time, handed over before each message left to
    the general path, so its sink hears everything in arrival order."""
    metrics = Metrics()
    buffer = IngestBuffer(_write, Spool(tmp_path, 1 << 20), metrics, max_size=100, max_age=60)
    calls: list[Any] = []
    ingest = IngestPipeline(
        buffer,
        metrics,
        lambda accepted: calls.append(accepted.topic),
        listening=lambda: True,
        live_readings=lambda readings: calls.append([r[:3] for r in readings]),
    )
    ingest.accept_many(
        [
            ("m/temperature", b"21.5", 2, 1),
            ("m/ds18b20/temperature", b"22", 2, 2),
            ("m/system", b'{"rssi": -60}', 2, 3),
            ("m/temperature", b"23", 2, 4),
        ]
    )
    assert calls == [
        [("m/temperature", "m", 21.5), ("m/ds18b20/temperature", "m", 22.0)],
        "m/system",
        [("m/temperature", "m", 23.0)],
    ]
    assert buffer._batch.messages == 4


async def test_a_listening_live_sink_without_live_readings_gets_every_message_as_accepted(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    buffer = IngestBuffer(_write, Spool(tmp_path, 1 << 20), metrics, max_size=100, max_age=60)
    heard: list[Any] = []
    listening = False
    ingest = IngestPipeline(buffer, metrics, heard.append, listening=lambda: listening)
    ingest.accept_many([("m/temperature", b"1", 2, 1)])
    assert heard == []
    listening = True
    ingest.accept_many([("m/temperature", b"2", 2, 2)])
    assert [accepted.value for accepted in heard] == [2.0]
    assert buffer._batch.messages == 2
