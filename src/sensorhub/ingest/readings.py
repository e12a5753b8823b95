"""The fast path of ingest: one socket read's plain QoS 1 readings, straight into the open batch.

What firmware sends most — a QoS 1 PUBLISH, neither DUP nor RETAIN, on a measurement topic, with
a plain number or a flat `{"value", "time"}` object that passes every check — is stored here
without the per-message objects of the general path (`Delivery`, `Accepted`, `Measurement`, a
receipt tuple, a receive time as `datetime`): the topic's module, sensor, hardware id and range
are looked up once per topic, the reading goes into the batch's columns, the counters move once
per read. Anything else, or anything this path is unsure of (a reject, a clock correction, a
device time near a limit, a trailing NUL byte, an unknown topic, a pending echo), goes to the
general path (`IngestPipeline.accept`) in its turn, so the order of arrival is kept.

The rules are those of the general path (docs/ingest.md), which decides wherever this one
declines: each message gets its own receive time (one clock reading per message, as epoch
seconds of a whole microsecond, the form `Batch` keys and receipts hold); a reading stored at its
receive time gets a receipt; `last_seen` moves to the newest message time of each module (kept
as epoch seconds until the batch is sealed or taken: `Batch.settle_seen`).

While a live client listens, each stored reading is also handed to the live sink as a
`LiveReading` (topic, module id, value, epoch seconds), in arrival order with the `Accepted`
results the general path hands it: the sink builds the same event from either.
tests/unit/test_readings_fast_path.py proves that both paths store the same rows, receipts and
counters, and give the live sink the same events, for the same deliveries.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Callable
from typing import Final

from sensorhub.ingest.batch import EXACT_SECONDS, Batch, MeasurementKey
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.clock import CLOCK_SET_FLOOR
from sensorhub.ingest.delivery import AckGroup, Publish, add_to_groups
from sensorhub.ingest.iso_seconds import HEAD_LENGTH, IsoSeconds
from sensorhub.ingest.measurements import fast_document
from sensorhub.ingest.messages import InvalidMessage, MessageKind
from sensorhub.ingest.normalize import epoch_to_datetime
from sensorhub.ingest.payload import MAX_PAYLOAD_BYTES
from sensorhub.ingest.receipts import Receipts, topic_crc
from sensorhub.ingest.rules import InterpretRules
from sensorhub.ingest.sensor_ranges import Bounds
from sensorhub.ingest.topics import parse_topic
from sensorhub.metrics import IngestCounts

PLAIN_QOS1: Final = 2
"""The flags of a QoS 1 PUBLISH that is neither a redelivery (DUP) nor retained."""
MARGIN: Final = 0.001
"""Seconds from a clock limit within which a device time is left to the general path (it
compares exact datetimes at its own receive time)."""
MAX_TOPICS: Final = 16_384
_FLOOR: Final = CLOCK_SET_FLOOR.timestamp()
_MEASUREMENT: Final = MessageKind.MEASUREMENT

Topic = tuple[str, str, str, Bounds | None, str, int]
"""(module id, sensor type, hardware id, range, topic in NFC, CRC-32 of the topic as received:
`receipts.topic_crc`) of a measurement topic."""
General = Callable[[Publish], "asyncio.Future[None] | None"]
LiveReading = tuple[str, str, float, float]
"""A reading for the live sink: (topic in NFC, module id, value, time as epoch seconds of a
whole microsecond); the `Accepted` of the general path carries the same in `topic`,
`module_id`, `value` and `time`."""
LiveReadings = Callable[[list[LiveReading]], None]
"""The live sink for the fast path's readings: takes a list of them in arrival order (the list
is the sink's to keep); it must be cheap and must not raise."""


class FastReadings:
    """Stores the plain readings of a read itself; hands the rest to `general`, in order."""

    def __init__(
        self,
        buffer: IngestBuffer,
        receipts: Receipts,
        counts: IngestCounts,
        rules: InterpretRules,
        general: General,
    ) -> None:
        """`general(publish)` is the general path for one PUBLISH (it never raises)."""
        self._buffer = buffer
        self._receipts = receipts
        self._counts = counts
        self._general = general
        # A device time is left to the general path unless clear of each limit by MARGIN.
        self._floor = _FLOOR + MARGIN
        self._max_ahead = rules.max_ahead.total_seconds() - MARGIN
        self._retain_for = rules.retain_for.total_seconds() - MARGIN
        self._iso = IsoSeconds()
        self._rules = rules
        self._topics: dict[str, Topic | None] = {}
        self.clock_ns: Callable[[], int] = time.time_ns
        """The clock read once per message (tests replace it)."""

    def accept_many(
        self, publishes: list[Publish], live: LiveReadings | None = None
    ) -> list[AckGroup]:
        """Store or hand on each PUBLISH of a read, in order (see `AcceptMany`).

        With `live`, the stored readings go to it too, handed over before each message left to
        the general path (whose own live sink hears of it) and at the end of the read.
        """
        groups: list[AckGroup] = []
        heard: list[LiveReading] | None = None if live is None else []
        topics, clock_ns = self._topics, self.clock_ns
        codes, times = self._receipts.codes, self._receipts.times
        isfinite, crc32 = math.isfinite, zlib.crc32
        heads, tails = self._iso.heads.get, self._iso.tails.get
        never = -math.inf
        floor, max_ahead, retain_for = self._floor, self._max_ahead, self._retain_for
        batch: Batch | None = None
        mids: list[int] = []
        room = stored = 0
        seen: dict[str, float] = {}
        measurements: dict[MeasurementKey, float] = {}
        # The open batch's columns, bound when it opens (placeholders until then).
        note_id = note_digest = mids.append
        note_second = list[float]().append
        for publish in publishes:
            topic, payload, flags, mid = publish
            value: float | None = None
            if (
                flags == PLAIN_QOS1
                and mid is not None
                and len(payload) <= MAX_PAYLOAD_BYTES
                and payload[-1:] != b"\0"  # endswith(bytes) costs 4 times as much
            ):
                target = topics.get(topic)
                if target is None and topic not in topics:
                    target = self._learn(topic)
                if target is not None:
                    seconds = now = clock_ns() // 1000 / 1e6
                    if payload[:1] == b"{":
                        fields = fast_document(payload)
                        if fields is not None:
                            value, raw_time = fields
                            if raw_time is not None:
                                device_time = None
                                if type(raw_time) is str:  # ISO 8601, from the caches (IsoSeconds)
                                    head = heads(raw_time[:HEAD_LENGTH])
                                    tail = tails(raw_time[HEAD_LENGTH:])
                                    if head is not None and tail is not None:
                                        device_time = (head + tail) / 1_000_000
                                if device_time is None:
                                    device_time = self._device_seconds(raw_time)
                                if (  # kept as it is by the general path, clear of every limit
                                    device_time is not None
                                    and floor <= device_time < EXACT_SECONDS[1]
                                    and device_time - now <= max_ahead
                                    and now - device_time <= retain_for
                                ):
                                    seconds = device_time
                                else:
                                    value = None
                    else:
                        try:
                            value = float(payload)
                        except ValueError:
                            pass
                        else:
                            if not isfinite(value) or 95 in payload:  # b"_" (`in` an int: C)
                                value = None
                    bounds = target[3]
                    if (
                        value is not None
                        and bounds is not None
                        and (value in bounds.sentinels or not bounds.low <= value <= bounds.high)
                    ):
                        value = None
            if value is None:  # the general path decides
                if batch is not None:
                    self._close(batch, stored)
                    batch, stored = None, 0
                if heard:
                    assert live is not None
                    live(heard)
                    heard = []
                durable = self._general(publish)
                if mid is not None:
                    add_to_groups(groups, durable, mid)
                continue
            assert target is not None and mid is not None
            if batch is None:
                batch, durable, room = self._buffer.open_batch()
                seen, measurements = batch.seen_seconds, batch.measurements
                note_id = batch.receipt_ids.append
                note_digest = batch.receipt_digests.append
                note_second = batch.receipt_seconds.append
                if groups and groups[-1][0] is durable:
                    mids = groups[-1][1]
                else:
                    mids = []
                    groups.append((durable, mids))
            if seconds is now:  # stored at its receive time: a receipt for a redelivery
                code = codes[mid] = crc32(payload, target[5])  # receipts.digest
                times[mid] = now
                note_id(mid)
                note_digest(code)
                note_second(now)
            module_id = target[0]
            if seconds > seen.get(module_id, never):
                seen[module_id] = seconds
            key = (seconds, module_id, target[1], target[2])
            count = len(measurements)
            measurements[key] = value
            if len(measurements) == count:  # a key seen before: it moves to the end (Batch)
                del measurements[key]
                measurements[key] = value
            if heard is not None:
                heard.append((target[4], module_id, value, seconds))
            mids.append(mid)
            stored += 1
            room -= 1
            if room == 0:
                self._close(batch, stored)
                batch, stored = None, 0
        if batch is not None:
            self._close(batch, stored)
        if heard:
            assert live is not None
            live(heard)
        return groups

    def _close(self, batch: Batch, stored: int) -> None:
        """Count what went into `batch`, let the buffer seal or flush it."""
        batch.messages += stored
        counts = self._counts
        counts.received += stored
        counts.accepted[_MEASUREMENT] += stored
        self._buffer.added()

    def _learn(self, topic: str) -> Topic | None:
        """What a topic names, if it is a measurement topic (cached either way)."""
        target: Topic | None = None
        try:
            parsed = parse_topic(topic)
        except InvalidMessage:
            parsed = None
        if parsed is not None and parsed.kind is _MEASUREMENT:
            sensor_type, hardware_id = parsed.sensor_type, parsed.hardware_id
            assert sensor_type is not None and hardware_id is not None
            bounds = self._rules.ranges.bounds(sensor_type, hardware_id)
            target = (
                parsed.module_id,
                sensor_type,
                hardware_id,
                bounds,
                parsed.topic,
                topic_crc(topic),
            )
        if len(self._topics) >= MAX_TOPICS:
            self._topics.clear()
        self._topics[topic] = target
        return target

    def _device_seconds(self, raw: object) -> float | None:
        """The epoch seconds of a device time (`raw`: the payload's `time`, not None) as the
        general path reads it, limits aside; None when there is none (blank, unreadable, of a
        type that is no time)."""
        if type(raw) is str:
            return self._iso.seconds(raw) if raw.strip() else None
        if type(raw) is float or type(raw) is int:
            when = epoch_to_datetime(raw)
            return None if when is None else when.timestamp()
        return None
