"""Event-loop lag: how late a timer that should fire every `interval` seconds actually fires.

Lag is the time the loop spent on other callbacks before it could run ours, i.e. how long any
event (an MQTT packet, an HTTP request, a Socket.IO frame) may wait. Exposed in /metrics as the
histogram `sensorhub_event_loop_lag_seconds` (p99 = its 0.99 quantile over a window).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import CollectorRegistry, Histogram

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class LoopLagMonitor:
    """Samples the running loop's lag every `interval` seconds into a histogram on `registry`."""

    def __init__(self, registry: CollectorRegistry, *, interval: float = 0.1) -> None:
        self.interval = interval
        self.histogram = Histogram(
            "sensorhub_event_loop_lag_seconds",
            "How late a periodic timer fired: time events waited for the event loop",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            expected = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.histogram.observe(max(0.0, time.perf_counter() - expected))
