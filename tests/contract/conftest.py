"""Fixtures of the contract suite: a module that speaks like the seed's firmware."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import Publisher, RunningApp, wait_until


@pytest.fixture
async def seed_module(app: RunningApp, broker_url: str, module_id: str) -> AsyncIterator[str]:
    """The seed firmware's messages for `module_id`: two temperature sensors of one type, logs.

    Removes the retained messages the dashboard's calls leave behind afterwards.
    """
    m = module_id
    now = datetime.now(UTC).replace(microsecond=0)
    async with Publisher(broker_url, f"fw-{m}") as firmware:
        firmware.publish(
            f"{m}/system/config",
            json.dumps({
                "ip": "192.168.1.42", "mac": "24:6F:28:AA:BB:CC", "moduleType": "air-quality-bench",
                "flash": {"usedKb": 1200, "freeKb": 1800, "systemKb": 1024},
                "memory": {"heapTotalKb": 320},
            }),
        )  # fmt: skip
        firmware.publish(f"{m}/system", json.dumps({"rssi": -61, "memory": {"heapFreeKb": 150}}))
        firmware.publish(
            f"{m}/hardware/config",
            json.dumps({"chip": {"model": "ESP32", "rev": 3, "cpuFreqMhz": 240, "flashKb": 4096,
                                 "cores": 2}}),
        )  # fmt: skip
        firmware.publish(
            f"{m}/sensors/status",
            json.dumps({"dht22:temperature": {"status": "ok", "value": 22.5},
                        "sht40:temperature": {"status": "ok", "value": 23.1}}),
        )  # fmt: skip
        firmware.publish(f"{m}/sensors/config", json.dumps({"co2": {"interval": 60}}))
        for minutes in range(0, 180, 10):
            when = (now - timedelta(minutes=minutes)).isoformat()
            firmware.publish(f"{m}/dht22/temperature", json.dumps({"value": 22.5, "time": when}))
            firmware.publish(f"{m}/sht40/temperature", json.dumps({"value": 23.1, "time": when}))
        firmware.publish(f"{m}/logs", json.dumps({"level": "warn", "msg": "sensor timeout"}))
        await firmware.drain()

    async def ready() -> bool:
        status = await app.http.get(f"/api/modules/{m}/status")
        history = await app.http.get(f"/api/modules/{m}/history", params={"days": 1})
        return (
            status.status_code == 200
            and status.json()["hardware"] is not None
            and len(status.json()["sensors"]) == 2
            and bool(status.json()["sensorsConfig"]["reported"])
            and len(history.json().get("sht40:temperature", [])) == 18
            and len(history.json().get("dht22:temperature", [])) == 18
        )

    await wait_until(ready, what="the seed module's messages stored")
    yield m
    async with Publisher(broker_url, f"clean-{m}") as cleaner:
        cleaner.publish(f"{m}/sensors/config", b"", retain=True)
        await cleaner.drain()
