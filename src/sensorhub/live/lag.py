"""Event-loop lag: how late a timer fires, the delay every callback on the loop may suffer.

A task sleeps `interval` seconds again and again and records how much later than asked it woke
up, in the histogram `sensorhub_event_loop_lag_seconds` (its buckets resolve 0.5 ms to 1 s) and
the gauge `sensorhub_event_loop_lag_max_seconds` (the largest since start). A live event delayed
by a blocked loop shows up here; one delayed by the network (e.g. Nagle on the broker's side)
does not.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from prometheus_client import CollectorRegistry, Gauge, Histogram

INTERVAL: Final = 0.05
BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class LoopLagMonitor:
    """Samples the running loop's lag every `interval` seconds while started."""

    def __init__(self, registry: CollectorRegistry, interval: float = INTERVAL) -> None:
        self._interval = interval
        self.histogram = Histogram(
            "sensorhub_event_loop_lag_seconds",
            "How late a timer on the event loop fired (sampled every 50 ms)",
            buckets=BUCKETS,
            registry=registry,
        )
        self._max = 0.0
        self.max_gauge = Gauge(
            "sensorhub_event_loop_lag_max_seconds",
            "Largest event-loop lag seen since start",
            registry=registry,
        )
        self.max_gauge.set_function(lambda: self._max)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        observe = self.histogram.observe
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            lag = max(0.0, loop.time() - due)
            observe(lag)
            if lag > self._max:
                self._max = lag
