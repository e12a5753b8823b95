"""One delivery from the broker: interpret → count → buffer → broadcast; acknowledge once durable.

`IngestPipeline.accept` is the single entry for QoS 0 and QoS 1 deliveries. Besides interpreting,
it applies the rules that depend on how a message was delivered (docs/architecture.md):

- the echo of a configuration sensorhub published itself is dropped (No Local cannot apply over
  MQTT 3.1.1 or on `$share` subscriptions);
- a redelivery (DUP=1) of a packet whose receive time is on record (`Receipts`) is given that
  same receive time again, so a reading without a device time lands on the same row (only
  messages stored at their receive time are put on record: a kept device time is its own key);
- a retained delivery never counts as the module being alive and never adds a measurement or log
  row without a device time (it is an old message, re-sent because we subscribed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter

from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.delivery import AckGroup, Delivery, Publish, accept_each, as_delivery
from sensorhub.ingest.interpret import InterpretRules, interpret
from sensorhub.ingest.messages import Accepted, MessageKind, Rejected
from sensorhub.ingest.readings import FastReadings, LiveReadings
from sensorhub.ingest.receipts import Receipts
from sensorhub.metrics import Metrics

logger = logging.getLogger(__name__)

LiveSink = Callable[[Accepted], None]
OVERLOAD = "overload"
MAX_EXPECTED_ECHOES = 10_000


class RateLimitedLog:
    """At most one log line per `interval` seconds, with the count of lines it held back."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._next = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        if self._suppressed:
            message += " (%d similar messages suppressed)"
            args = (*args, self._suppressed)
        logger.warning(message, *args)
        self._next = now + self._interval
        self._suppressed = 0


class IngestPipeline:
    """Feeds MQTT messages into the buffer; `accept` returns what to await before acknowledging."""

    def __init__(
        self,
        buffer: IngestBuffer,
        metrics: Metrics,
        live: LiveSink | None = None,
        *,
        max_unacknowledged_qos0: int = 50_000,
        receipts: Receipts | None = None,
        rules: InterpretRules | None = None,
        on_reject: Callable[[str, str], None] | None = None,
        listening: Callable[[], bool] | None = None,
        live_readings: LiveReadings | None = None,
    ) -> None:
        """`on_reject(topic, reason)` hears of each rejected message and unreadable field (the
        activity log tallies them); it must be cheap and must not raise. `listening()` tells
        whether `live` has anyone to tell (without it, `live` hears of every message).
        `live_readings` is the same sink for the readings of the fast path (`LiveReadings`);
        without it, every message of a read takes the general path while `live` listens."""
        self._rules = rules or InterpretRules()
        self._buffer = buffer
        self.receipts = receipts if receipts is not None else Receipts()
        self._echoes: dict[tuple[str, bytes], int] = {}
        self._metrics = metrics
        self._live = live
        self._max_qos0 = max_unacknowledged_qos0
        self._rejections = RateLimitedLog()
        self._ignored_log = RateLimitedLog()
        self._counts = metrics.counts  # plain integers: cheaper per message than Counter.inc()
        for kind in MessageKind:  # every kind shows in /metrics from the start, at 0
            self._counts.accepted.setdefault(kind.value, 0)
        self._rejected: dict[str, Counter] = {}
        self._on_reject = on_reject
        self._listening = listening
        self._live_readings = live_readings
        self._each = accept_each(self.accept, _log_error)
        self.fast = FastReadings(buffer, self.receipts, self._counts, self._rules, self._general)
        """The fast path of `accept_many` (its clock is replaceable in tests)."""

    def expect_echo(self, topic: str, payload: bytes) -> None:
        """sensorhub is publishing (topic, payload) itself: drop the copy the broker sends back."""
        key = (topic, payload)
        self._echoes[key] = self._echoes.get(key, 0) + 1
        if len(self._echoes) > MAX_EXPECTED_ECHOES:
            del self._echoes[next(iter(self._echoes))]

    def accept(self, delivery: Delivery) -> asyncio.Future[None] | None:
        """Process one delivery without waiting.

        Returns:
            The future that completes once the message's data is durable (acknowledge then), or
            None when there is nothing to wait for (rejected, an echo, or QoS 0).
        """
        topic, payload = delivery.topic, delivery.payload
        counts = self._counts
        counts.received += 1
        if self._echoes and self._is_echo(topic, payload):
            return None
        packet_id = delivery.packet_id
        received: datetime | None = None
        code: int | None = None
        if packet_id is not None and delivery.dup:
            self._metrics.redelivered.inc()
            code = self.receipts.digest(topic, payload)
            received = self.receipts.time_of(packet_id, code)
            if received is not None:
                self._metrics.redelivered_known.inc()
        if delivery.retain:
            self._metrics.retained.inc()
        if received is None:
            received = datetime.now(UTC)
        result = interpret(topic, payload, received, self._rules)
        if isinstance(result, Rejected):
            self._reject(result.reason.value)
            if self._on_reject is not None:
                self._on_reject(result.topic, result.reason.value)
            self._rejections.warning("rejected %s: %s", result.reason.value, result.detail)
            return None
        qos = delivery.qos
        if qos == 0 and self._buffer.depth >= self._max_qos0:
            self._reject(OVERLOAD)
            self._rejections.warning(
                "dropping QoS 0 message: buffer full (database and spool busy)"
            )
            return None
        counts.accepted[result.kind] += 1  # a StrEnum member counts under its value
        if result.clock_corrected:
            self._metrics.clock_corrections.inc()
        if result.ignored_fields or result.nul_stripped:
            self._count_repairs(result)
        receipt = None
        if packet_id is not None and not result.device_time:  # see Receipts: rows at `received`
            if code is None:
                code = self.receipts.digest(topic, payload)
            receipt = (packet_id, code, received)
            self.receipts.note(packet_id, code, received)
        durable = self._buffer.add(
            result, retained=delivery.retain, device_time=result.device_time, receipt=receipt
        )
        if self._live is not None and not delivery.retain:
            self._live(result)
        return durable if qos > 0 else None

    def accept_many(self, publishes: list[Publish]) -> list[AckGroup]:
        """Process one socket read's PUBLISH packets, in order, without waiting (`AcceptMany`).

        Plain QoS 1 readings go the fast path (`ingest/readings.py`), which hands them to
        `live_readings` while the live sink listens; everything else, one by one, through
        `accept`. The whole read goes through `accept` while an echo is expected, or while the
        live sink listens and has no `live_readings`.
        """
        if self._echoes:
            return self._each(publishes)
        if self._live is not None and (self._listening is None or self._listening()):
            if self._live_readings is None:
                return self._each(publishes)
            return self.fast.accept_many(publishes, self._live_readings)
        return self.fast.accept_many(publishes)

    def _general(self, publish: Publish) -> asyncio.Future[None] | None:
        try:
            return self.accept(as_delivery(publish))
        except Exception:
            _log_error(publish)
            return None

    def _is_echo(self, topic: str | bytes, payload: bytes) -> bool:
        """Drop the echo of a configuration sensorhub published itself: stored already, and a
        late echo must not bring back a module deleted in the meantime."""
        if not isinstance(topic, str):
            return False
        key = (topic, payload)
        pending = self._echoes.get(key, 0)
        if not pending:
            return False
        if pending == 1:
            del self._echoes[key]
        else:
            self._echoes[key] = pending - 1
        return True

    def _reject(self, reason: str) -> None:
        counter = self._rejected.get(reason)
        if counter is None:
            counter = self._rejected[reason] = self._metrics.rejected.labels(reason)
        counter.inc()

    def _count_repairs(self, result: Accepted) -> None:
        """Count (and log, rate-limited) unreadable status fields and stripped NUL bytes."""
        if result.nul_stripped:
            self._metrics.nul_stripped.inc()
        for name, reason in result.ignored_fields:
            self._metrics.fields_ignored.labels(reason).inc()
            if self._on_reject is not None:
                self._on_reject(
                    result.topic, f"unreadable field {name} ({reason}), stored value kept"
                )
        if result.ignored_fields:
            self._ignored_log.warning(
                "module %r: kept the stored value of unreadable fields %s",
                result.module_id,
                ", ".join(f"{name} ({reason})" for name, reason in result.ignored_fields),
            )


def _log_error(publish: Publish) -> None:
    logger.exception("unexpected error handling a message on %r", publish[0])
