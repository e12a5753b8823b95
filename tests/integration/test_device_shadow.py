"""Desired vs reported configuration (issue 12 item 5), through the real broker and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from sensorhub.db.migrate import upgrade_schema
from sensorhub.modules.devices.configuration import desired_configurations
from tests.support import Publisher, RunningApp, running_app, wait_until


def _env(database_url: str, broker_url: str, data_dir: Path, module_id: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "DATA_DIR": str(data_dir),
        "MQTT_TOPICS": f"{module_id}/#",
        "MQTT_CLIENT_ID": f"sh-{module_id}"[:64],
        "BUFFER_MAX_AGE": "0.2",
    }


@pytest.fixture
async def clean_retained(broker_url: str, module_id: str) -> AsyncIterator[None]:
    yield
    async with Publisher(broker_url, f"clean-{module_id}") as publisher:
        publisher.publish(f"{module_id}/sensors/config", b"", retain=True)
        await publisher.drain()


async def _retained_config(broker_url: str, module_id: str) -> dict[str, Any]:
    """The retained configuration, as a module connecting now gets it (waits until one is set)."""
    found: list[bytes] = []

    async def retained() -> bool:
        async with Publisher(broker_url, f"fresh-{module_id}") as subscriber:
            subscriber.client.subscribe(f"{module_id}/sensors/config", qos=1)
            try:
                _, payload, flag = await asyncio.wait_for(subscriber.received.get(), 1)
            except TimeoutError:
                return False
        if flag:
            found.append(payload)
        return flag

    await wait_until(retained, what=f"a retained configuration for {module_id}")
    body: dict[str, Any] = json.loads(found[-1])
    return body


async def _config(app: RunningApp, module_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await app.http.get(f"/api/modules/{module_id}/config")).json()
    return body


async def test_a_report_never_changes_the_desired_configuration_or_what_is_republished(
    database_url: str, broker_url: str, data_dir: Path, module_id: str, clean_retained: None
) -> None:
    m = module_id
    env = _env(database_url, broker_url, data_dir, m)
    async with running_app(**env) as app:
        posted = await app.http.post(
            f"/api/modules/{m}/config", json={"sensors": {"co2": {"interval": 30}}}
        )
        assert posted.status_code == 200, posted.text
        async with Publisher(broker_url, f"module-{m}") as module:
            module.publish(f"{m}/sensors/config", json.dumps({"co2": {"interval": "60s"}}))
            module.publish(f"{m}/sensors/config", json.dumps({"pm25": {"model": "sps30"}}))
            await module.drain()

        async def reported() -> bool:
            return "pm25" in (await _config(app, m))["reported"]

        await wait_until(reported, what="the module's reports ingested")
        config = await _config(app, m)
        assert config["desired"] == {"co2": {"interval": 30, "model": None}}
        # "60s" is unreadable: it is not reported at all, and certainly not as the desired 30.
        assert config["reported"].get("co2", {}).get("interval") != 30
        assert config["inSync"] is False and config["pending"] == ["co2"]
        status = (await app.http.get(f"/api/modules/{m}/status")).json()["sensorsConfig"]
        assert status["desired"] == config["desired"] and status["inSync"] is False
        assert status["sensors"]["co2"]["interval"] == 30  # what the dashboard's slider shows
        assert status["sensors"]["pm25"] == {"interval": None, "model": "sps30"}

    # Nothing retained any more: the next sensorhub connection republishes the desired side.
    async with Publisher(broker_url, f"wipe-{m}") as wiper:
        wiper.publish(f"{m}/sensors/config", b"", retain=True)
        await wiper.drain()
    async with running_app(**env) as app:
        assert await _retained_config(broker_url, m) == {"sensors": {"co2": {"interval": 30}}}
        async with Publisher(broker_url, f"module-{m}") as module:
            module.publish(f"{m}/sensors/config", json.dumps({"co2": {"interval": 30}}))
            await module.drain()

        async def in_sync() -> bool:
            return bool((await _config(app, m))["inSync"])

        await wait_until(in_sync, what="the module to report the desired interval")


async def test_config_without_interval_and_for_a_module_not_seen_yet(
    app: RunningApp, broker_url: str, module_id: str, clean_retained: None
) -> None:
    m = module_id
    first = await app.http.post(
        f"/api/modules/{m}/config", json={"sensors": {"dht22:temperature": {"interval": 10}}}
    )
    assert first.status_code == 200, first.text
    second = await app.http.post(
        f"/api/modules/{m}/config", json={"sensors": {"dht22:temperature": {"model": "DHT22"}}}
    )
    assert second.status_code == 200, second.text
    empty = await app.http.post(f"/api/modules/{m}/config", json={})
    assert empty.status_code == 200, empty.text
    expected = {"sensors": {"dht22:temperature": {"interval": 10, "model": "DHT22"}}}
    assert await _retained_config(broker_url, m) == expected
    assert (await app.http.get(f"/api/modules/{m}/status")).status_code == 404  # not seen yet
    config = await _config(app, m)
    assert config["desired"] == {"dht22:temperature": {"interval": 10, "model": "DHT22"}}
    assert config["reported"] == {} and config["pending"] == ["dht22:temperature"]
    # A desired configuration alone makes the module deletable (a mistyped id can be removed).
    deleted = await app.http.delete(f"/api/modules/{m}")
    assert deleted.status_code == 200, deleted.text
    assert (await _config(app, m))["desired"] == {}


async def test_desired_configurations_pages_through_every_module(database_url: str) -> None:
    await asyncio.to_thread(upgrade_schema, database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await pool.execute(
            "INSERT INTO sensor_config_desired (module_id, sensor_type, interval_s, model) "
            "SELECT 'm' || lpad(i::text, 2, '0'), t, 10 * i, NULL "
            "FROM generate_series(1, 7) i, unnest(ARRAY['co2', 'temperature']) t"
        )
        found = [item async for item in desired_configurations(pool, page=3)]
        assert [module for module, _, _ in found] == [f"m{i:02d}" for i in range(1, 8)]
        _, topic, payload = found[1]
        assert topic == "m02/sensors/config"
        assert json.loads(payload) == {
            "sensors": {"co2": {"interval": 20}, "temperature": {"interval": 20}}
        }

    finally:
        await pool.close()
