"""Delivery rules against a real Mosquitto of the test's own: retained messages (issue 12.2), the
bound on unacknowledged deliveries (issue 14), configuration republish with flow control (12.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from tests.faults.helpers import Mosquitto
from tests.support import Publisher, db_count, running_app, wait_until

pytestmark = pytest.mark.slow


def app_env(tmp_path: Path, database_url: str, broker_url: str, module_id: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "DATA_DIR": str(tmp_path / "data"),
        "MQTT_TOPICS": f"{module_id}/#",
        "MQTT_CLIENT_ID": f"sh-{module_id}"[:64],
        "BUFFER_MAX_AGE": "0.2",
    }


async def test_retained_messages_never_add_rows_nor_make_a_module_alive(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    device_time = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    async with Publisher(mosquitto.url, f"pub-{module_id}") as publisher:
        publisher.publish(f"{module_id}/temperature", "20.1", retain=True)
        publisher.publish(f"{module_id}/logs", "booted", retain=True)
        publisher.publish(
            f"{module_id}/humidity",
            f'{{"value": 40, "time": "{device_time.isoformat()}"}}',
            retain=True,
        )
        publisher.publish(f"{module_id}/sensors/status", '{"co2": {"status": "ok"}}', retain=True)
        await publisher.drain()

    for _ in range(2):  # every (re)start re-delivers the retained messages
        async with running_app(
            **app_env(tmp_path, database_url, mosquitto.url, module_id)
        ) as running:
            retained = running.runtime.metrics.retained
            await wait_until(lambda: retained._value.get() >= 4, what="retained")  # noqa: B023
            await wait_until(
                lambda: db_count(database_url, "SELECT count(*) FROM sensor_status"),
                what="the status snapshot stored",
            )
            await wait_until(
                lambda: db_count(database_url, "SELECT count(*) FROM measurements"),
                what="the reading with a device time stored",
            )

    measurements = await db_count(database_url, "SELECT count(*) FROM measurements")
    at_device_time = await db_count(
        database_url, "SELECT count(*) FROM measurements WHERE time = $1", device_time
    )
    assert (measurements, at_device_time) == (1, 1), "only the reading with its own time"
    assert await db_count(database_url, "SELECT count(*) FROM device_logs") == 0
    last_seen = await db_count(database_url, "SELECT count(last_seen) FROM device_system_status")
    assert last_seen == 0, "a retained message is no sign of life"


async def test_unacknowledged_deliveries_stay_within_the_bound(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    """Mosquitto 2.0 ignores the Receive Maximum after the first PUBACK; sensorhub stops reading."""
    bound, total = 100, 3000
    line = "x" * 1000  # what was read before the pause (≤ 384 KiB) holds at most ~380 of them
    env = app_env(tmp_path, database_url, mosquitto.url, module_id)
    async with running_app(**env, MQTT_RECEIVE_MAXIMUM=str(bound)) as running:
        acks = running.runtime.mqtt.acks
        async with Publisher(mosquitto.url, f"pub-{module_id}") as publisher:
            publisher.publish(f"{module_id}/logs", "first", qos=1)  # one PUBACK before the flood
            await publisher.drain()
            await wait_until(
                lambda: db_count(database_url, "SELECT count(*) FROM device_logs"), what="first"
            )
            lock = await asyncpg.connect(database_url)
            transaction = lock.transaction()
            await transaction.start()
            await lock.execute("LOCK TABLE device_logs IN ACCESS EXCLUSIVE MODE")
            for n in range(total):
                publisher.publish(f"{module_id}/logs", f"{n} {line}", qos=1)
            await publisher.drain()
            await wait_until(lambda: acks.held >= bound, what="the bound reached")
            await transaction.rollback()
            await lock.close()
        await wait_until(
            lambda: _count_is(database_url, total + 1), timeout=120, what="every line stored"
        )
    assert acks.max_held <= bound + 400, f"held {acks.max_held} unacknowledged deliveries"


async def _count_is(database_url: str, expected: int) -> bool:
    return await db_count(database_url, "SELECT count(*) FROM device_logs") >= expected


async def test_configurations_of_10000_modules_are_republished_with_flow_control(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    """Mosquitto's default max_inflight_messages (20) is its Receive Maximum: gmqtt used to run out
    of packet ids after 19 publishes and stop the republish."""
    modules = 10_000
    await migrate(Settings(), database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO sensor_config_desired (module_id, sensor_type, interval_s) "
            "SELECT $1 || '-' || n, 'co2', 60 FROM generate_series(1, $2) AS n",
            module_id,
            modules,
        )
    finally:
        await connection.close()

    env = app_env(tmp_path, database_url, mosquitto.url, f"{module_id}-none")
    async with running_app(**env), Publisher(mosquitto.url, f"sub-{module_id}") as subscriber:
        subscriber.client.subscribe("+/sensors/config", qos=0)  # a broker of its own
        received: set[str] = set()

        async def all_received() -> bool:
            while not subscriber.received.empty():
                topic, _, _ = subscriber.received.get_nowait()
                received.add(topic)
            return len(received) >= modules

        await wait_until(all_received, timeout=120, what="10,000 retained configurations")
    assert len(received) == modules
