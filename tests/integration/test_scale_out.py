"""Several instances on one broker group, one database and one Redis (docs/contract.md §8 scale-out).

Needs a broker with MQTT 5 shared subscriptions and persistent sessions: the real Mosquitto given by
`SENSORHUB_TEST_MQTT_URL`. The embedded amqtt broker has no shared subscriptions, so without that
variable the broker tests are skipped. Every test uses its own share group and module topics, so
tests running in parallel on one broker never take each other's messages.

Mosquitto (2.0) distributes a shared subscription round-robin over all sessions in the group,
connected or not: while an instance is down, its turn still comes, and those messages wait in its
persistent session until it is back (with the same client id). The kill test relies on that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from sensorhub.broker_url import BrokerAddress
from sensorhub.db.locks import advisory_key
from sensorhub.jobs import PeriodicJob
from sensorhub.plugins.embedded import free_port
from tests.integration.test_realtime import REDIS_URL, live_client
from tests.support import (
    Publisher,
    RunningApp,
    count_reaches,
    db_count,
    instance_env,
    is_ready,
    publish_stream,
    running_app,
    serve_process,
    wait_until,
)

needs_shared_subscriptions = pytest.mark.skipif(
    not os.environ.get("SENSORHUB_TEST_MQTT_URL"),
    reason="needs MQTT shared subscriptions: the embedded amqtt broker has none; "
    "set SENSORHUB_TEST_MQTT_URL to a Mosquitto 2 broker",
)
COUNT = "SELECT count(*) FROM measurements"
DISTINCT = "SELECT count(DISTINCT value) FROM measurements"


def accepted(running: RunningApp) -> float:
    """Measurements this instance took from the broker."""
    value = running.runtime.metrics.registry.get_sample_value(
        "sensorhub_messages_accepted_total", {"kind": "measurement"}
    )
    return value or 0.0


@pytest.fixture
def group() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def sessions(broker_url: str) -> AsyncIterator[list[str]]:
    """Client ids whose persistent broker sessions are removed after the test."""
    client_ids: list[str] = []
    yield client_ids
    broker = BrokerAddress.parse(broker_url)
    for client_id in client_ids:  # Clean Start with no expiry discards the stored session
        client = Client(client_id, clean_session=True, session_expiry_interval=0)
        with contextlib.suppress(Exception):
            await client.connect(broker.host, broker.port, version=MQTTv50)
            await client.disconnect()


@needs_shared_subscriptions
async def test_shared_group_stores_each_reading_once_and_splits_the_work(
    database_url: str,
    broker_url: str,
    tmp_path: Path,
    module_id: str,
    group: str,
    sessions: list[str],
) -> None:
    total = 400
    tag = uuid.uuid4().hex[:8]
    env = {
        name: instance_env(
            database_url,
            broker_url,
            module_id,
            tmp_path / name,
            MQTT_SHARED_GROUP=group,
            MQTT_CLIENT_ID=f"{name}-{tag}",
        )
        for name in ("one", "two")
    }
    sessions.extend(instance["MQTT_CLIENT_ID"] for instance in env.values())
    async with (
        running_app(**env["one"]) as one,
        running_app(**env["two"]) as two,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        assert one.runtime.mqtt is not None and two.runtime.mqtt is not None
        assert one.runtime.mqtt.subscriptions == [f"$share/{group}/{module_id}/#"]
        await publish_stream(publisher, f"{module_id}/seq", 0, total, rate=2000)
        await publisher.drain()
        await wait_until(count_reaches(database_url, COUNT, total), what=f"{total} stored")
        assert await db_count(database_url, COUNT) == total
        assert await db_count(database_url, DISTINCT) == total
        # each message went to exactly one instance, and both took a share
        assert accepted(one) + accepted(two) == total
        assert accepted(one) > 0 and accepted(two) > 0


@needs_shared_subscriptions
@pytest.mark.skipif(
    REDIS_URL is None, reason="no Redis: set SENSORHUB_TEST_REDIS_URL or run one on :6379"
)
async def test_dashboard_on_one_instance_sees_what_the_other_ingests(
    database_url: str,
    broker_url: str,
    tmp_path: Path,
    module_id: str,
    group: str,
    sessions: list[str],
) -> None:
    """The client is connected to `one` only; about half the readings are ingested by `two`."""
    assert REDIS_URL is not None
    total = 20
    tag = uuid.uuid4().hex[:8]
    env = {
        name: {
            **instance_env(
                database_url,
                broker_url,
                module_id,
                tmp_path / name,
                MQTT_SHARED_GROUP=group,
                MQTT_CLIENT_ID=f"{name}-{tag}",
            ),
            "REDIS_URL": REDIS_URL,
        }
        for name in ("one", "two")
    }
    sessions.extend(instance["MQTT_CLIENT_ID"] for instance in env.values())
    async with (
        running_app(**env["one"]) as one,
        running_app(**env["two"]) as two,
        live_client(one, transports=["websocket"]) as client,
        Publisher(broker_url, f"p-{module_id}") as publisher,
    ):
        await client.subscribe(module_id)  # other tests may share the Redis channel
        for n in range(total):
            publisher.publish(f"{module_id}/co2", str(400 + n))
        values = sorted([(await client.next())["value"] for _ in range(total)])
        assert values == [float(400 + n) for n in range(total)]
        assert accepted(one) + accepted(two) == total
        assert accepted(two) > 0, "instance two ingested nothing, so Redis fan-out went untested"


@contextlib.contextmanager
def _killable(env: dict[str, str], log: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A `sensorhub serve` subprocess (restartable: the list holds the current one)."""
    servers = [serve_process(env, log)]
    try:
        yield servers
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)


@needs_shared_subscriptions
@pytest.mark.slow
async def test_killing_one_instance_mid_stream_loses_nothing(
    database_url: str,
    broker_url: str,
    tmp_path: Path,
    module_id: str,
    group: str,
    sessions: list[str],
) -> None:
    """SIGKILL instance A mid-stream; B keeps ingesting; A's share waits for A; all stored once.

    Mosquitto queues at most `max_queued_messages` (1000 by default) for a disconnected session:
    A's share of what is unacknowledged at the kill plus what is published while A is down stays
    well below that (A gets every second message: at most 400 + 150 here).
    """
    tag = uuid.uuid4().hex[:8]
    port = free_port()
    a_env = {
        **instance_env(
            database_url,
            broker_url,
            module_id,
            tmp_path / "a",
            MQTT_SHARED_GROUP=group,
            MQTT_CLIENT_ID=f"a-{tag}",
        ),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    b_env = instance_env(
        database_url,
        broker_url,
        module_id,
        tmp_path / "b",
        MQTT_SHARED_GROUP=group,
        MQTT_CLIENT_ID=f"b-{tag}",
    )
    first, down, total = 800, 300, 1100
    sessions.extend([a_env["MQTT_CLIENT_ID"], b_env["MQTT_CLIENT_ID"]])

    with _killable(a_env, tmp_path / "a.log") as a:
        await wait_until(lambda: is_ready(f"http://127.0.0.1:{port}"), timeout=60, what="A ready")
        async with (
            running_app(**b_env) as b,
            Publisher(broker_url, f"p-{module_id}") as publisher,
        ):
            stream = asyncio.create_task(
                publish_stream(publisher, f"{module_id}/seq", 0, first, rate=1000)
            )
            await wait_until(count_reaches(database_url, COUNT, 200), what="200 stored")
            a[0].send_signal(signal.SIGKILL)
            a[0].wait(timeout=10)
            await stream

            # while A is down: B takes its turns of the new readings
            await publish_stream(publisher, f"{module_id}/seq", first, down, rate=1000)
            await publisher.drain()
            newer = f"SELECT count(*) FROM measurements WHERE value >= {first}"
            await wait_until(
                count_reaches(database_url, newer, down // 3),
                what="B storing readings published while A was down",
            )
            assert accepted(b) >= down // 3

            # A comes back with the same client id and gets what its session kept
            a.append(serve_process(a_env, tmp_path / "a.log"))
            await wait_until(
                count_reaches(database_url, COUNT, total),
                timeout=60,
                what=f"all {total} readings after A's restart",
            )
    assert await db_count(database_url, COUNT) == total
    assert await db_count(database_url, DISTINCT) == total


async def test_periodic_job_runs_once_per_period_across_instances(database_url: str) -> None:
    """Two instances' jobs of one name, started out of step: one run per period, not two."""
    interval = 0.4
    admin = await asyncpg.connect(database_url)
    await admin.execute("CREATE TABLE job_runs (at timestamptz NOT NULL DEFAULT clock_timestamp())")
    rows = "SELECT count(*) FROM job_runs"

    running: list[int] = []  # bodies in progress right now, across both instances
    overlaps = 0

    async def body(connection: asyncpg.Connection) -> None:
        nonlocal overlaps
        overlaps += bool(running)
        running.append(1)
        try:
            await connection.execute("INSERT INTO job_runs DEFAULT VALUES")
            await asyncio.sleep(0.05)
        finally:
            running.pop()

    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=2) for _ in range(2)]
    jobs = [
        PeriodicJob("sampler", interval, body, pools[0]),
        PeriodicJob("sampler", interval, body, pools[1], first_delay=interval / 2),
    ]
    try:
        for job in jobs:
            await job.start()
        await wait_until(count_reaches(database_url, rows, 6), timeout=15, what="six runs")
        leader, follower = sorted(jobs, key=lambda job: job.runs, reverse=True)
        await leader.stop()
        stored = await db_count(database_url, rows)
        # one instance leads and the other never runs the job, not even alongside it
        assert follower.runs == 0 and overlaps == 0
        assert stored - 1 <= leader.runs <= stored  # the last may be cut short by stop()
        assert advisory_key("sampler") != advisory_key("other")
        # when the leader stops, the other instance takes the job over
        await wait_until(
            lambda: follower.runs > 0, timeout=5, what="the other instance taking over"
        )
    finally:
        for job in jobs:
            await job.stop()
        for pool in pools:
            await pool.close()
        await admin.close()
