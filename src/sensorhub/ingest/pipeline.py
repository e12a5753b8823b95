"""One received message: interpret → count → broadcast → buffer; acknowledge once durable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter

from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.interpret import InterpretRules, interpret
from sensorhub.ingest.messages import Accepted, MessageKind, Rejected
from sensorhub.metrics import Metrics

logger = logging.getLogger(__name__)

LiveSink = Callable[[Accepted], None]
OVERLOAD = "overload"


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
        rules: InterpretRules | None = None,
    ) -> None:
        self._rules = rules or InterpretRules()
        self._buffer = buffer
        self._metrics = metrics
        self._live = live
        self._max_qos0 = max_unacknowledged_qos0
        self._rejections = RateLimitedLog()
        self._ignored_log = RateLimitedLog()
        # Children of labelled metrics, looked up once: `labels()` costs more than `inc()`.
        self._received = metrics.received
        self._accepted = {kind: metrics.accepted.labels(kind.value) for kind in MessageKind}
        self._rejected: dict[str, Counter] = {}

    def accept(self, topic: str | bytes, payload: bytes, qos: int) -> asyncio.Future[None] | None:
        """Process one message without waiting.

        Returns:
            The future that completes once the message's data is durable (acknowledge then), or
            None when there is nothing to wait for (rejected, or QoS 0).
        """
        self._received.inc()
        result = interpret(topic, payload, datetime.now(UTC), self._rules)
        if isinstance(result, Rejected):
            self._reject(result.reason.value)
            self._rejections.warning("rejected %s: %s", result.reason.value, result.detail)
            return None
        if qos == 0 and self._buffer.depth >= self._max_qos0:
            self._reject(OVERLOAD)
            self._rejections.warning(
                "dropping QoS 0 message: buffer full (database and spool busy)"
            )
            return None
        self._accepted[result.kind].inc()
        if result.clock_corrected:
            self._metrics.clock_corrections.inc()
        if result.ignored_fields or result.nul_stripped:
            self._count_repairs(result)
        durable = self._buffer.add(result)
        if self._live is not None:
            self._live(result)
        return durable if qos > 0 else None

    def _reject(self, reason: str) -> None:
        counter = self._rejected.get(reason)
        if counter is None:
            counter = self._rejected[reason] = self._metrics.rejected.labels(reason)
        counter.inc()

    def _count_repairs(self, result: Accepted) -> None:
        """Count (and log, rate-limited) unreadable status fields and stripped NUL bytes."""
        if result.nul_stripped:
            self._metrics.nul_stripped.inc()
        for _field, reason in result.ignored_fields:
            self._metrics.fields_ignored.labels(reason).inc()
        if result.ignored_fields:
            self._ignored_log.warning(
                "module %r: kept the stored value of unreadable fields %s",
                result.module_id,
                ", ".join(f"{name} ({reason})" for name, reason in result.ignored_fields),
            )
