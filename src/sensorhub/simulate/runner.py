"""Drive a broker with simulated modules: connections, pacing, configuration, statistics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import logging
import multiprocessing
import os
import queue
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any
from urllib.parse import unquote, urlsplit

from gmqtt import Client, MQTTConnectError, Subscription
from gmqtt.mqtt.constants import MQTTv311

from sensorhub.simulate.bad import bad_payload
from sensorhub.simulate.module import Outgoing, SimulatedModule

log = logging.getLogger(__name__)

MEASUREMENT, BAD, CONTROL = 0, 1, 2
DRAIN_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
MAX_DEDICATED_CONNECTIONS = 32
SHARED_CONNECTIONS = 4
SUBSCRIBE_CHUNK = 100
MAX_BURST = 500
MAX_BACKLOG_BYTES = 4 * 1024 * 1024
BACKLOG_POLL = 0.005
STATUS_KEY = ""


@dataclass
class SimulationOptions:
    """What to simulate.

    `rate` is the total of measurement messages per second over all modules; 0 or None publishes
    each sensor at its own interval (`sensor_interval`, or what the retained `sensors/config`
    sets), as real modules do. `connections` None gives each module its own connection up to
    32 modules and shares 4 connections beyond (fewer connections publish faster).
    `max_in_flight` bounds unacknowledged QoS 1 publishes per connection. `first_module`
    numbers the modules from there (used to split one simulation across processes).
    """

    broker_url: str = "mqtt://127.0.0.1:1883"
    modules: int = 5
    rate: float | None = None
    duration: float | None = None
    qos: int = 1
    bad_ratio: float = 0.0
    module_prefix: str = "sim"
    seed: int | None = None
    sensor_interval: float = 10.0
    status_interval: float = 30.0
    connections: int | None = None
    max_in_flight: int = 1000
    first_module: int = 0

    def __post_init__(self) -> None:
        if self.qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if not 0.0 <= self.bad_ratio <= 1.0:
            raise ValueError("bad_ratio must be within 0..1")
        if self.modules < 0 or (self.rate is not None and self.rate < 0):
            raise ValueError("modules and rate must not be negative")
        if self.sensor_interval <= 0 or self.status_interval <= 0:
            raise ValueError("intervals must be positive")
        if not 1 <= self.max_in_flight < 65535:
            raise ValueError("max_in_flight must be within 1..65534")


@dataclass
class SimulationStats:
    """Counts of messages the broker acknowledged (QoS 1) or that were written (QoS 0).

    `sent` and `rate` count measurement messages, bad ones included; `bad_sent` the bad ones;
    `control_sent` the configuration and status messages; `errors` what was not delivered.
    """

    sent: int = 0
    bad_sent: int = 0
    control_sent: int = 0
    errors: int = 0
    elapsed: float = 0.0
    rate: float = 0.0


def format_progress(stats: SimulationStats) -> str:
    return (
        f"sent={stats.sent} rate={stats.rate:.1f}/s bad={stats.bad_sent} "
        f"errors={stats.errors} elapsed={stats.elapsed:.0f}s"
    )


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    ssl: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ValueError(f"unsupported broker URL scheme: {parts.scheme!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            ssl=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class _InFlight:
    """gmqtt's `persistent_storage`: unacknowledged QoS 1 publishes, counted by kind on PUBACK.

    gmqtt calls `push_message` from inside `Client.publish`, so the kind set just before the
    call labels the message being sent.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.next_kind = MEASUREMENT
        self.acked = [0, 0, 0]
        self.lost = 0
        self._messages: dict[int, tuple[bytes, int]] = {}
        self._space = asyncio.Event()
        self._space.set()
        self._empty = asyncio.Event()
        self._empty.set()

    def push_message(self, mid: int, raw_package: bytes) -> None:
        self._messages[mid] = (raw_package, self.next_kind)
        self._empty.clear()
        if len(self._messages) >= self.limit:
            self._space.clear()

    def remove_message_by_mid(self, mid: int) -> None:
        entry = self._messages.pop(mid, None)
        if entry is None:
            return
        self.acked[entry[1]] += 1
        if len(self._messages) < self.limit:
            self._space.set()
        if not self._messages:
            self._empty.set()

    def clear(self) -> None:
        # Called when the broker starts a fresh session: what was in flight is gone.
        self.lost += len(self._messages)
        self._messages.clear()
        self._space.set()
        self._empty.set()

    @property
    def is_empty(self) -> bool:
        return not self._messages

    @property
    def has_space(self) -> bool:
        return self._space.is_set()

    @property
    def count(self) -> int:
        # Not __len__: gmqtt picks its own storage when ours is falsy (`storage or default`).
        return len(self._messages)

    async def wait_empty(self) -> None:
        await self._empty.wait()

    async def wait_space(self) -> None:
        await self._space.wait()

    def get_all(self) -> list[tuple[int, bytes]]:
        return [(mid, entry[0]) for mid, entry in self._messages.items()]


class _CoalescingTransport:
    """Gathers the packets written during one event-loop step into a single socket write.

    gmqtt writes every packet straight to the transport, one system call each; at thousands of
    messages a second those calls cost more than building the packets.
    """

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    @property
    def backlog(self) -> int:
        return int(self._transport.get_write_buffer_size())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


ConfigHandler = Callable[[str, bytes], None]


class _Link:
    """One MQTT connection, shared by one or more modules."""

    def __init__(
        self, client_id: str, broker: Broker, qos: int, max_in_flight: int, on_config: ConfigHandler
    ) -> None:
        self.qos = qos
        self.written = [0, 0, 0]
        self.errors = 0
        self._broker = broker
        self._store = _InFlight(max_in_flight)
        self._on_config = on_config
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._config_topics: list[str] = []
        self._transport: _CoalescingTransport | None = None
        self._client: Any = Client(client_id, persistent_storage=self._store)
        if broker.username:
            self._client.set_auth_credentials(broker.username, broker.password)
        self._client.on_message = self._message
        self._client.on_subscribe = self._subscribed
        self._client.on_connect = self._connected

    async def connect(self) -> None:
        # MQTT 3.1.1 suits publishing and is all the embedded amqtt broker speaks.
        broker = self._broker
        try:
            await asyncio.wait_for(
                self._client.connect(broker.host, broker.port, ssl=broker.ssl, version=MQTTv311),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError, MQTTConnectError) as error:
            raise ConnectionError(
                f"cannot connect to the MQTT broker at {broker.host}:{broker.port}: "
                f"{error or type(error).__name__}"
            ) from error
        self._coalesce_writes()

    def _coalesce_writes(self) -> None:
        # gmqtt internals (pinned 0.8.0): the connection and its protocol both hold the transport.
        connection = self._client._connection
        protocol = getattr(connection, "_protocol", None)
        transport = getattr(connection, "_transport", None)
        if protocol is None or transport is None or isinstance(transport, _CoalescingTransport):
            return
        self._transport = _CoalescingTransport(transport)
        connection._transport = protocol._transport = self._transport

    def _connected(self, _client: Any, session_present: Any, _rc: Any, _props: Any) -> None:
        self._coalesce_writes()
        if self._config_topics and not session_present:  # a reconnect that lost the session
            self._client.subscribe([Subscription(t, qos=1) for t in self._config_topics])

    def _message(
        self, _client: Any, topic: str, payload: bytes, _qos: int, _properties: Any
    ) -> int:
        self._on_config(topic, payload)
        return 0

    def _subscribed(self, _client: Any, mid: int, _qos: Any, _properties: Any) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def subscribe(self, topics: list[str]) -> None:
        futures = []
        for start in range(0, len(topics), SUBSCRIBE_CHUNK):
            chunk = [Subscription(t, qos=1) for t in topics[start : start + SUBSCRIBE_CHUNK]]
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._subacks[self._client.subscribe(chunk)] = future
            futures.append(future)
        await asyncio.wait_for(asyncio.gather(*futures), CONNECT_TIMEOUT)
        self._config_topics.extend(topics)

    @property
    def has_space(self) -> bool:
        """Room in the QoS 1 window, and (what bounds QoS 0) a short socket backlog."""
        backlog = self._transport.backlog if self._transport else 0
        return self._store.has_space and backlog < MAX_BACKLOG_BYTES

    async def wait_space(self) -> None:
        await self._store.wait_space()
        # The transport reports its backlog only to its protocol (gmqtt's): poll it.
        while not self.has_space and self._client.is_connected:  # noqa: ASYNC110
            await asyncio.sleep(BACKLOG_POLL)

    def publish(self, kind: int, message: Outgoing, qos: int | None = None) -> None:
        """Send now; callers keep to the in-flight window (`has_space` / `wait_space`)."""
        if not self._client.is_connected:
            self.errors += 1
            return
        qos = self.qos if qos is None else qos
        self._store.next_kind = kind
        self._client.publish(message.topic, message.payload, qos=qos, retain=message.retain)
        if qos == 0:
            self.written[kind] += 1

    def delivered(self, kind: int) -> int:
        return self.written[kind] + self._store.acked[kind]

    @property
    def undelivered(self) -> int:
        return self.errors + self._store.lost

    @property
    def in_flight(self) -> int:
        return self._store.count

    async def drain(self, limit: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._store.wait_empty(), limit)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.disconnect(), 5.0)


@dataclass
class _Slot:
    number: int
    module: SimulatedModule
    link: _Link
    due: dict[str, float]


class _Simulation:
    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.broker = Broker.from_url(options.broker_url)
        self.links: list[_Link] = []
        self.slots: list[_Slot] = []
        self.by_config_topic: dict[str, _Slot] = {}
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
                _Link(
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
                slot.link.publish(CONTROL, message, qos=1)
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
        changed = slot.module.apply_config(payload)
        if not changed or self.options.rate:
            return
        now = asyncio.get_running_loop().time()
        for sensor_type, interval in changed.items():
            due = min(slot.due.get(sensor_type, now + interval), now + interval)
            self._schedule(slot.number, sensor_type, due)
        self._wake.set()

    def _measurement(self, module: SimulatedModule, sensor_type: str) -> tuple[int, Outgoing]:
        message = module.measurement(sensor_type)
        if self.options.bad_ratio and self.rng.random() < self.options.bad_ratio:
            return BAD, Outgoing(message.topic, bad_payload(self.rng))
        return MEASUREMENT, message

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
                    slot.link.publish(CONTROL, message)
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
        sent = sum(link.delivered(MEASUREMENT) + link.delivered(BAD) for link in self.links)
        return SimulationStats(
            sent=sent,
            bad_sent=sum(link.delivered(BAD) for link in self.links),
            control_sent=sum(link.delivered(CONTROL) for link in self.links),
            errors=sum(link.undelivered for link in self.links),
            elapsed=elapsed,
            rate=sent / elapsed if elapsed else 0.0,
        )

    async def finish(self) -> SimulationStats:
        """Wait (bounded) for in-flight publishes to be acknowledged, then disconnect."""
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
    """Run until `options.duration` has passed or `stop` is set, whichever comes first."""
    simulation = _Simulation(options)
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


async def _report(simulation: _Simulation, progress: Callable[[SimulationStats], None]) -> None:
    while True:
        await asyncio.sleep(1.0)
        progress(simulation.stats())


def split_options(options: SimulationOptions, parts: int) -> list[SimulationOptions]:
    """Divide the modules, their rate and connections into `parts` disjoint simulations."""
    parts = max(1, min(parts, options.modules))
    result = []
    first = options.first_module
    for part in range(parts):
        modules = options.modules // parts + (part < options.modules % parts)
        share = modules / options.modules
        result.append(
            dataclasses.replace(
                options,
                modules=modules,
                first_module=first,
                rate=options.rate * share if options.rate else options.rate,
                connections=(
                    max(1, round(options.connections * share)) if options.connections else None
                ),
                seed=None if options.seed is None else options.seed + part * 7919,
            )
        )
        first += modules
    return result


def merge_stats(parts: list[SimulationStats]) -> SimulationStats:
    elapsed = max((p.elapsed for p in parts), default=0.0)
    sent = sum(p.sent for p in parts)
    return SimulationStats(
        sent=sent,
        bad_sent=sum(p.bad_sent for p in parts),
        control_sent=sum(p.control_sent for p in parts),
        errors=sum(p.errors for p in parts),
        elapsed=elapsed,
        rate=sent / elapsed if elapsed else 0.0,
    )


def run_simulation_processes(
    options: SimulationOptions,
    processes: int,
    progress: Callable[[SimulationStats], None] | None = None,
) -> SimulationStats:
    """Run the simulation split over worker processes (spawned), so it can use several cores.

    Stops after `options.duration`, or on KeyboardInterrupt in the caller.
    """
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results: Queue[tuple[str, int, Any]] = context.Queue()
    parts = split_options(options, processes)
    workers = [
        context.Process(target=_worker, args=(number, part, stop, results), daemon=True)
        for number, part in enumerate(parts)
    ]
    for worker in workers:
        worker.start()
    latest: dict[int, SimulationStats] = {}
    final: dict[int, SimulationStats] = {}
    failures: list[str] = []
    reported = time.monotonic()
    try:
        while len(final) + len(failures) < len(workers):
            try:
                kind, number, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and results.empty():
                    failures.append("a worker exited without a result")
                continue
            except KeyboardInterrupt:
                # Workers ignore SIGINT: they stop on `stop`, then report their totals.
                stop.set()
                continue
            if kind == "progress":
                latest[number] = payload
                if progress is not None and time.monotonic() - reported >= 1.0:
                    reported = time.monotonic()
                    progress(
                        merge_stats(
                            [
                                final.get(n) or latest.get(n) or SimulationStats()
                                for n in range(len(workers))
                            ]
                        )
                    )
            elif kind == "done":
                final[number] = payload
            else:
                failures.append(str(payload))
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=DRAIN_TIMEOUT + 15)
    if failures:
        raise RuntimeError("simulation worker failed: " + "; ".join(failures))
    return merge_stats(list(final.values()))


def _worker(
    number: int, options: SimulationOptions, stop: Any, results: Queue[tuple[str, int, Any]]
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        stats = asyncio.run(_worker_main(number, options, stop, results))
        results.put(("done", number, stats))
    except Exception as exc:
        results.put(("error", number, f"{type(exc).__name__}: {exc}"))


async def _worker_main(
    number: int, options: SimulationOptions, stop: Any, results: Queue[tuple[str, int, Any]]
) -> SimulationStats:
    local_stop = asyncio.Event()

    async def watch() -> None:
        # A multiprocessing Event can't be awaited; polling it is cheap.
        while not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        local_stop.set()

    watcher = asyncio.create_task(watch())
    try:
        return await run_simulation(
            options, local_stop, lambda stats: results.put(("progress", number, stats))
        )
    finally:
        watcher.cancel()
