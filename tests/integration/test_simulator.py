"""The module simulator against a real MQTT broker (Mosquitto by default)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv311

from sensorhub.broker_url import BrokerAddress
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.messages import Accepted
from sensorhub.simulate import (
    PROFILES,
    SimulationOptions,
    SimulationStats,
    is_bad,
    module_id,
    run_simulation,
    run_simulation_processes,
)

BROKER_URL = os.environ.get("SENSORHUB_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
START_TOPICS = ("system/config", "hardware/config", "sensors/config", "sensors/status")
HARDWARE = {p.sensor_type: p.hardware_id for p in PROFILES}
WAIT = 15.0


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    @property
    def module_id(self) -> str:
        return self.topic.split("/", 1)[0]

    @property
    def rest(self) -> str:
        return self.topic.split("/", 1)[1]

    @property
    def sensor_type(self) -> str | None:
        levels = self.topic.split("/")
        if len(levels) == 3 and levels[1] not in ("system", "sensors", "hardware"):
            return levels[2]
        return None


@dataclass
class Collector:
    """A subscriber that records everything it receives and lets a test await a condition."""

    client: Any
    messages: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def measurements(self, sensor_type: str | None = None) -> list[Received]:
        return [
            m
            for m in self.messages
            if m.sensor_type is not None and sensor_type in (None, m.sensor_type)
        ]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def publish_retained(self, topic: str, payload: bytes) -> None:
        """Publish a retained message and return once the broker routed it back to us."""
        count = len([m for m in self.messages if m.topic == topic])
        self.client.publish(topic, payload, qos=1, retain=True)
        await self.wait_for(lambda: len([m for m in self.messages if m.topic == topic]) > count)


def _broker() -> tuple[str, int]:
    broker = BrokerAddress.parse(BROKER_URL)
    return broker.host, broker.port


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def _collector(topics: list[str]) -> Collector:
    client = Client(f"test-{uuid.uuid4().hex[:12]}")
    collector = Collector(client)
    subscribed = asyncio.Event()

    def on_message(_client: Any, topic: str, payload: bytes, _qos: int, props: Any) -> int:
        collector.messages.append(Received(topic, payload, bool(props.get("retain"))))
        collector.changed.set()
        return 0

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    host, port = _broker()
    await client.connect(host, port, version=MQTTv311)
    client.subscribe([Subscription(f"{topic}/#", qos=1) for topic in topics])
    await asyncio.wait_for(subscribed.wait(), WAIT)
    return collector


@pytest.fixture
async def collect() -> AsyncIterator[Callable[[list[str]], Any]]:
    collectors: list[Collector] = []

    async def make(topics: list[str]) -> Collector:
        collector = await _collector(topics)
        collectors.append(collector)
        return collector

    yield make
    for collector in collectors:
        await collector.client.disconnect()


def _options(prefix: str, **overrides: Any) -> SimulationOptions:
    return SimulationOptions(broker_url=BROKER_URL, module_prefix=prefix, seed=7, **overrides)


async def _await_delivery(collector: Collector, stats: SimulationStats) -> None:
    await collector.wait_for(lambda: len(collector.measurements()) >= stats.sent)


async def test_modules_announce_themselves_and_publish_at_the_asked_rate(
    collect: Callable[[list[str]], Any],
) -> None:
    prefix = _prefix()
    ids = [module_id(prefix, i) for i in range(3)]
    collector = await collect(ids)

    stats = await run_simulation(_options(prefix, modules=3, rate=200.0, duration=2.0))
    await _await_delivery(collector, stats)

    for mid in ids:
        rests = {m.rest for m in collector.messages if m.module_id == mid}
        assert set(START_TOPICS) <= rests, mid
    measurements = collector.measurements()
    assert len(measurements) == stats.sent
    assert 200 <= stats.sent <= 600
    assert stats.errors == 0
    assert stats.bad_sent == 0
    assert {m.module_id for m in measurements} == set(ids)
    for message in measurements:
        assert message.sensor_type is not None
        assert message.rest == f"{HARDWARE[message.sensor_type]}/{message.sensor_type}"
        assert not is_bad(message.payload, message.sensor_type), message
    forms = {m.payload.startswith(b"{") for m in measurements}
    assert forms == {True, False}, "both the plain and the JSON payload form"


async def test_bad_ratio_mixes_in_payloads_the_backend_rejects(
    collect: Callable[[list[str]], Any],
) -> None:
    prefix = _prefix()
    collector = await collect([module_id(prefix, i) for i in range(2)])

    stats = await run_simulation(
        _options(prefix, modules=2, rate=400.0, duration=2.0, bad_ratio=0.2)
    )
    await _await_delivery(collector, stats)

    measurements = collector.measurements()
    bad = [m for m in measurements if m.sensor_type and is_bad(m.payload, m.sensor_type)]
    assert len(bad) == stats.bad_sent
    assert 0.1 <= stats.bad_sent / stats.sent <= 0.3
    assert any(len(m.payload) > 64 * 1024 for m in bad)
    # The backend's own rules agree: the bad share and only it is rejected.
    now = datetime.now(UTC)
    for message in collector.messages:
        accepted = isinstance(interpret(message.topic, message.payload, now), Accepted)
        expected = message not in bad
        assert accepted == expected, (message.topic, message.payload[:80])


async def test_retained_config_sets_a_sensor_interval_and_own_report_is_ignored(
    collect: Callable[[list[str]], Any],
) -> None:
    prefix = _prefix()
    mid = module_id(prefix, 0)
    config_topic = f"{mid}/sensors/config"
    collector = await collect([mid])
    config = {"sensors": {"temperature": {"interval": 0.5, "model": "dht22"}}}
    await collector.publish_retained(config_topic, json.dumps(config).encode())
    stop = asyncio.Event()
    options = _options(prefix, modules=1, sensor_interval=3600.0, status_interval=3600.0)
    try:
        run = asyncio.create_task(run_simulation(options, stop))
        # The module's own report (interval 3600 everywhere) arrives on the same topic; if the
        # module obeyed it, temperature would fall back to one reading an hour.
        await collector.wait_for(lambda: len(collector.measurements("temperature")) >= 4)
        stop.set()
        stats = await asyncio.wait_for(run, WAIT)
    finally:
        await collector.publish_retained(config_topic, b"")

    reports = [m for m in collector.messages if m.topic == config_topic and not m.retain]
    assert any(
        json.loads(r.payload)["sensors"]["temperature"]["interval"] == 3600
        for r in reports
        if r.payload
    )
    assert stats.errors == 0
    others = len(collector.measurements()) - len(collector.measurements("temperature"))
    assert others <= 2


async def test_live_config_change_takes_effect_while_running(
    collect: Callable[[list[str]], Any],
) -> None:
    prefix = _prefix()
    mid = module_id(prefix, 0)
    config_topic = f"{mid}/sensors/config"
    collector = await collect([mid])
    stop = asyncio.Event()
    options = _options(prefix, modules=1, sensor_interval=3600.0, status_interval=3600.0)
    run = asyncio.create_task(run_simulation(options, stop))
    try:
        await collector.wait_for(
            lambda: any(m.topic == f"{mid}/sensors/status" for m in collector.messages)
        )
        # A retained publish reaches an established subscription with retain=0 (MQTT 3.1.1).
        config = {"sensors": {"co2": {"interval": 0.5, "model": "mhz14a"}}}
        await collector.publish_retained(config_topic, json.dumps(config).encode())
        await collector.wait_for(lambda: len(collector.measurements("co2")) >= 3)
    finally:
        stop.set()
        await asyncio.wait_for(run, WAIT)
        await collector.publish_retained(config_topic, b"")


async def test_processes_split_modules_and_sum_stats(
    collect: Callable[[list[str]], Any],
) -> None:
    prefix = _prefix()
    ids = [module_id(prefix, i) for i in range(4)]
    collector = await collect(ids)
    options = _options(prefix, modules=4, rate=200.0, duration=2.0)

    stats = await asyncio.to_thread(run_simulation_processes, options, 2)
    await _await_delivery(collector, stats)

    assert len(collector.measurements()) == stats.sent
    assert {m.module_id for m in collector.measurements()} == set(ids)
    assert 200 <= stats.sent <= 600
    assert stats.errors == 0


async def test_applied_config_is_reported_back_once(
    collect: Callable[[list[str]], Any],
) -> None:
    """A configuration that changes an interval is reported back (so the dashboard shows it
    applied, not pending forever); the report's own echo is not obeyed nor reported again."""
    prefix = _prefix()
    mid = module_id(prefix, 0)
    config_topic = f"{mid}/sensors/config"
    collector = await collect([mid])
    stop = asyncio.Event()
    options = _options(prefix, modules=1, sensor_interval=3600.0, status_interval=3600.0)
    run = asyncio.create_task(run_simulation(options, stop))

    def module_reports() -> list[float]:
        """co2 intervals of the module's own reports (every sensor; ours name only co2)."""
        documents = [
            json.loads(m.payload)["sensors"]
            for m in collector.messages
            if m.topic == config_topic and m.payload
        ]
        return [d["co2"]["interval"] for d in documents if len(d) > 1]

    def desire(interval: float) -> bytes:
        return json.dumps({"sensors": {"co2": {"interval": interval, "model": "mhz14a"}}}).encode()

    try:
        await collector.wait_for(lambda: module_reports() == [3600])  # the start report
        await collector.publish_retained(config_topic, desire(0.5))
        await collector.wait_for(lambda: module_reports()[-1] == 0.5)
        # Two settings back to back: the echo of the report of the first arrives after the
        # second is applied; obeyed, it would flip the module back and forth for ever.
        await collector.publish_retained(config_topic, desire(0.9))
        await collector.publish_retained(config_topic, desire(0.7))
        await collector.wait_for(lambda: module_reports()[-1] == 0.7)
        # 0.7 stays in force: its readings keep coming.
        co2 = len(collector.measurements("co2"))
        await collector.wait_for(lambda: len(collector.measurements("co2")) >= co2 + 6)
    finally:
        stop.set()
        stats = await asyncio.wait_for(run, WAIT)
        await collector.publish_retained(config_topic, b"")

    # One report per applied configuration (0.9 may be overtaken before it is reported), none
    # for the echo of a report.
    assert module_reports() in ([3600, 0.5, 0.9, 0.7], [3600, 0.5, 0.7])
    assert stats.errors == 0
