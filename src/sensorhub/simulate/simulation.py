"""Scheduling of one simulation in one event loop: start-up, timed and paced publishing, stop.

`run_simulation` builds the links (`simulate.link`) and modules (`simulate.module`), publishes
each module's start report, subscribes to its configuration topic (and reports back on it each
configuration it applies, ignoring that report's echo), then publishes status messages and
measurements — each sensor at its own interval, or at a fixed total rate — until the duration has
passed or `stop` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sensorhub.broker_url import BrokerAddress
from sensorhub.simulate.bad import bad_payload
from sensorhub.simulate.link import Link
from sensorhub.simulate.module import Outgoing, SimulatedModule
from sensorhub.simulate.options import Kind, SimulationOptions, SimulationStats

DRAIN_TIMEOUT = 10.0  # seconds to wait for acknowledgements at start and at the end
MAX_DEDICATED_CONNECTIONS = 32
SHARED_CONNECTIONS = 4
MAX_BURST = 500  # paced publishes per event-loop step at most
STATUS_KEY = ""  # the schedule key of a module's status messages (sensor types are the others)
PROGRESS_INTERVAL = 1.0  # seconds between progress reports
MAX_ECHOES = 8  # own configuration reports per topic awaited back from the broker, at most


@dataclass
class _Slot:
    number: int
    module: SimulatedModule
    link: Link
    due: dict[str, float]


class Simulation:
    """The modules of one simulation, their links and their schedule (event-loop times)."""

    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.broker = BrokerAddress.parse(options.broker_url, default_host="127.0.0.1")
        self.links: list[Link] = []
        self.slots: list[_Slot] = []
        self.by_config_topic: dict[str, _Slot] = {}
        # Own configuration reports not yet routed back to us (we subscribe to the same topic).
        self._echoes: dict[str, list[bytes]] = {}
        self._reports: set[asyncio.Task[None]] = set()
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._started = 0.0
        self._finished: float | None = None

    def _build(self) -> None:
        opts = self.options
        dedicated = opts.connections is None and opts.modules <= MAX_DEDICATED_CONNECTIONS
        count = opts.connections or (opts.modules if dedicated else SHARED_CONNECTIONS)
        count = max(1, min(count, opts.modules))
        token = os.urandom(4).hex()
        for index in range(count):
            name = (
                f"{opts.module_prefix}-{opts.first_module + index + 1:03d}"
                if dedicated
                else f"{opts.module_prefix}-pub{opts.first_module + index}"
            )
            self.links.append(
                Link(
                    f"{name}-{token}",
                    self.broker,
                    opts.qos,
                    opts.max_in_flight,
                    self._config_received,
                )
            )
        for offset in range(opts.modules):
            index = opts.first_module + offset
            module_rng = random.Random(None if opts.seed is None else opts.seed * 1_000_003 + index)
            module = SimulatedModule(index, opts.module_prefix, opts.sensor_interval, module_rng)
            slot = _Slot(offset, module, self.links[offset % count], {})
            self.slots.append(slot)
            self.by_config_topic[module.config_topic] = slot

    async def start(self) -> None:
        """Connect, publish the start reports, subscribe to configuration, plan the first sends.

        Raises:
            ConnectionError: a link could not connect.
        """
        self._build()
        results = await asyncio.gather(
            *(link.connect() for link in self.links), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        # Each module's start report is published and acknowledged before its subscription to
        # the same topic exists, so the broker never routes our own report back to us: whatever
        # arrives there later is configuration from someone else, retained or live. (The retain
        # flag can't tell them apart: MQTT 3.1.1 clears it on live delivery.)
        for slot in self.slots:
            for message in slot.module.start_messages():
                if not slot.link.has_space:
                    await slot.link.wait_space()
                slot.link.publish(Kind.CONTROL, message, qos=1)
        await asyncio.gather(*(link.drain(DRAIN_TIMEOUT) for link in self.links))
        await asyncio.gather(
            *(
                link.subscribe([s.module.config_topic for s in self.slots if s.link is link])
                for link in self.links
            )
        )
        loop = asyncio.get_running_loop()
        self._started = now = loop.time()
        timed_sensors = not self.options.rate
        for number, slot in enumerate(self.slots):
            self._schedule(
                number, STATUS_KEY, now + self.rng.uniform(0, self.options.status_interval)
            )
            if timed_sensors:
                for sensor_type, interval in slot.module.intervals.items():
                    self._schedule(number, sensor_type, now + self.rng.uniform(0, interval))

    def _schedule(self, number: int, key: str, due: float) -> None:
        self.slots[number].due[key] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, number, key))

    def _config_received(self, topic: str, payload: bytes) -> None:
        slot = self.by_config_topic.get(topic)
        if slot is None:
            return
        echoes = self._echoes.get(topic)
        if echoes and payload in echoes:  # our own report, routed back: not an order
            echoes.remove(payload)
            return
        changed = slot.module.apply_config(payload)
        if changed:
            self._report_config(slot)
        if not changed or self.options.rate:
            return
        now = asyncio.get_running_loop().time()
        for sensor_type, interval in changed.items():
            due = min(slot.due.get(sensor_type, now + interval), now + interval)
            self._schedule(slot.number, sensor_type, due)
        self._wake.set()

    def _report_config(self, slot: _Slot) -> None:
        """Report the configuration now in force, as firmware does after applying one: the
        desired setting shows as applied rather than pending forever (docs/dashboard.md)."""
        message = Outgoing(slot.module.config_topic, slot.module.config_report())
        echoes = self._echoes.setdefault(message.topic, [])
        echoes.append(message.payload)
        del echoes[:-MAX_ECHOES]
        task = asyncio.get_running_loop().create_task(self._publish_control(slot, message))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _publish_control(self, slot: _Slot, message: Outgoing) -> None:
        if not slot.link.has_space:
            await slot.link.wait_space()
        slot.link.publish(Kind.CONTROL, message, qos=1)

    def _measurement(self, module: SimulatedModule, sensor_type: str) -> tuple[Kind, Outgoing]:
        message = module.measurement(sensor_type)
        if self.options.bad_ratio and self.rng.random() < self.options.bad_ratio:
            return Kind.BAD, Outgoing(message.topic, bad_payload(self.rng))
        return Kind.MEASUREMENT, message

    async def run_timed(self) -> None:
        """Status messages, and in realistic mode each sensor at its own interval."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, _, number, key = self._heap[0]
            now = loop.time()
            if due > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due - now)
                continue
            heapq.heappop(self._heap)
            slot = self.slots[number]
            if slot.due.get(key) != due:
                continue
            if not slot.link.has_space:
                await slot.link.wait_space()
            if key == STATUS_KEY:
                interval = self.options.status_interval
                for message in slot.module.status_messages():
                    slot.link.publish(Kind.CONTROL, message)
            else:
                interval = slot.module.intervals[key]
                slot.link.publish(*self._measurement(slot.module, key))
            self._schedule(number, key, max(due + interval, now))

    async def run_paced(self, rate: float) -> None:
        """Measurements at a fixed total rate, on a schedule: a slow step never drifts the rate."""
        if not self.slots:
            return
        order = [
            (slot, sensor_type)
            for sensor_type in self.slots[0].module.sensor_types
            for slot in self.slots
        ]
        loop = asyncio.get_running_loop()
        started = loop.time()
        published = 0
        while True:
            due_count = int((loop.time() - started) * rate) + 1
            burst = min(due_count - published, MAX_BURST)
            if burst <= 0:
                await asyncio.sleep((published + 1) / rate - (loop.time() - started))
                continue
            for _ in range(burst):
                slot, sensor_type = order[published % len(order)]
                if not slot.link.has_space:
                    await slot.link.wait_space()
                slot.link.publish(*self._measurement(slot.module, sensor_type))
                published += 1
            await asyncio.sleep(0)

    def stats(self) -> SimulationStats:
        end = self._finished or asyncio.get_running_loop().time()
        elapsed = max(end - self._started, 1e-9) if self._started else 0.0
        sent = sum(
            link.delivered(Kind.MEASUREMENT) + link.delivered(Kind.BAD) for link in self.links
        )
        return SimulationStats(
            sent=sent,
            bad_sent=sum(link.delivered(Kind.BAD) for link in self.links),
            control_sent=sum(link.delivered(Kind.CONTROL) for link in self.links),
            errors=sum(link.undelivered for link in self.links),
            elapsed=elapsed,
            rate=sent / elapsed if elapsed else 0.0,
        )

    async def finish(self) -> SimulationStats:
        """Wait (bounded) for in-flight publishes to be acknowledged, then disconnect."""
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)
        await asyncio.gather(*(link.drain(DRAIN_TIMEOUT) for link in self.links))
        self._finished = asyncio.get_running_loop().time()
        stats = self.stats()
        stats.errors += sum(link.in_flight for link in self.links)
        await asyncio.gather(*(link.close() for link in self.links))
        return stats


async def run_simulation(
    options: SimulationOptions,
    stop: asyncio.Event | None = None,
    progress: Callable[[SimulationStats], None] | None = None,
) -> SimulationStats:
    """Run until `options.duration` (seconds) has passed or `stop` is set, whichever comes first.

    `progress` is called with the running totals every second. Returns the final totals.

    Raises:
        ConnectionError: the broker could not be reached at the start.
    """
    simulation = Simulation(options)
    tasks: list[asyncio.Task[None]] = []
    try:
        await simulation.start()
        tasks.append(asyncio.create_task(simulation.run_timed()))
        if options.rate:
            tasks.append(asyncio.create_task(simulation.run_paced(options.rate)))
        if progress is not None:
            tasks.append(asyncio.create_task(_report(simulation, progress)))
        await _wait_until_done(options.duration, stop, tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stats = await simulation.finish()
    return stats


async def _wait_until_done(
    duration: float | None, stop: asyncio.Event | None, tasks: list[asyncio.Task[None]]
) -> None:
    waiters: set[asyncio.Future[Any]] = set(tasks)
    if stop is not None:
        waiters.add(asyncio.ensure_future(stop.wait()))
    try:
        done, _ = await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters - set(tasks):
            waiter.cancel()
    for task in done & set(tasks):
        task.result()


async def _report(simulation: Simulation, progress: Callable[[SimulationStats], None]) -> None:
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL)
        progress(simulation.stats())
