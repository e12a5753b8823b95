"""Every call the seed's Nuxt dashboard (nuxt-app/app, commit 79f7481) makes, with what it reads.

Written from reading the dashboard's code; the file each expectation comes from is named. The
dashboard sends no token: these run without SENSORHUB_API_TOKEN (see docs/migrating-from-node.md
for protected writes).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import socketio

from tests.support import Publisher, RunningApp, wait_until

# (method, path) of every request in the dashboard's code: utils/api.ts (the generated client
# the composables use), $fetch calls in composables and components, fetch in pages/logs.vue.
DASHBOARD_CALLS = [
    ("get", "/api/modules"),  # useModules.ts
    ("get", "/api/modules/{module_id}/status"),  # useDashboard.ts
    ("get", "/api/modules/{module_id}/history"),  # useDashboard.ts, ?days=1|7
    ("get", "/api/modules/{module_id}/data"),  # utils/api.ts (legacy)
    ("get", "/api/modules/{module_id}/storage"),  # useModuleStorage.ts
    ("post", "/api/modules/{module_id}/config"),  # HardwareSensorRow.vue
    ("post", "/api/modules/{module_id}/reset-sensor"),  # HardwareSensorRow.vue
    ("post", "/api/modules/{module_id}/hardware/enable"),  # HardwareSensorRow.vue
    ("patch", "/api/modules/{module_id}/preferences"),  # UnifiedSensorCard.vue
    ("delete", "/api/modules/{module_id}/zone"),  # useZones.ts unassignDevice
    ("get", "/api/modules/types"),  # useModuleRegistry.ts
    ("get", "/api/modules/types/{module_type}/manifest"),  # useModuleRegistry.ts
    ("get", "/api/zones"),  # useZones.ts
    ("post", "/api/zones"),
    ("get", "/api/zones/{zone_id}"),
    ("put", "/api/zones/{zone_id}"),
    ("delete", "/api/zones/{zone_id}"),
    ("post", "/api/zones/{zone_id}/devices/{module_id}"),
    ("get", "/api/logs"),  # pages/logs.vue
    ("delete", "/api/logs"),  # pages/logs.vue
    ("get", "/api/logs/histogram"),  # LogHistogram.vue
    ("get", "/api/db-size"),  # useDatabase.ts
    ("get", "/api/metrics-history"),  # useDatabase.ts
]


def _iso(text: Any) -> datetime:
    assert isinstance(text, str) and text.endswith("Z"), text
    return datetime.fromisoformat(text)


def _number_or_null(value: Any) -> bool:
    return value is None or isinstance(value, int | float)


async def test_every_call_of_the_dashboard_is_in_the_openapi_schema(app: RunningApp) -> None:
    paths = (await app.http.get("/openapi.json")).json()["paths"]
    missing = [(m, p) for m, p in DASHBOARD_CALLS if m not in paths.get(p, {})]
    assert not missing


async def test_modules_status_history_and_storage_as_the_dashboard_reads_them(
    app: RunningApp, seed_module: str
) -> None:
    m = seed_module
    # useModules.ts keeps `id`, `name`, `type`, `status`; BenchModuleHeader capitalizes `name`.
    listed = next(x for x in (await app.http.get("/api/modules")).json() if x["id"] == m)
    assert isinstance(listed["name"], str) and listed["name"]
    assert isinstance(listed["type"], str) and listed["status"] is None

    # useDashboard.ts → DeviceStatus (features/modules/common/types.ts); BenchModuleHeader reads
    # `moduleType` at the top level ("Module inconnu" without it), `zoneName`, `system.rssi`;
    # DeviceInfoSection reads system.flash/memory and hardware.chip; BenchModulePanel reads
    # sensors[key].status/value, sensorsConfig.sensors[key].interval and preferences.
    status = (await app.http.get(f"/api/modules/{m}/status")).json()
    assert status["moduleType"] == "air-quality-bench"
    assert "zoneName" in status and status["zoneName"] is None
    system = status["system"]
    assert system["ip"] == "192.168.1.42" and system["mac"] == "24:6F:28:AA:BB:CC"
    assert system["rssi"] == -61
    assert system["bootedAt"] is None or _iso(system["bootedAt"])
    assert system["flash"] == {"usedKb": 1200, "freeKb": 1800, "systemKb": 1024, "totalKb": None}
    assert system["memory"]["heapTotalKb"] == 320 and system["memory"]["heapFreeKb"] == 150
    assert status["hardware"]["chip"] == {
        "model": "ESP32", "rev": 3, "cpuFreqMhz": 240, "flashKb": 4096, "cores": 2,
    }  # fmt: skip
    assert status["sensors"] == {
        "dht22:temperature": {"status": "ok", "value": 22.5},
        "sht40:temperature": {"status": "ok", "value": 23.1},
    }
    assert status["sensorsConfig"]["sensors"]["co2"] == {"interval": 60, "model": None}
    assert status["preferences"] == {}

    # useDashboard.loadHistory: a map of `hardware:sensorType` to [{time, value}] (any key whose
    # value is an array); index.vue asks days=1 (1h…24h views) or 7 (7j view).
    for days in (1, 7):
        history = (await app.http.get(f"/api/modules/{m}/history", params={"days": days})).json()
        assert set(history) == {"dht22:temperature", "sht40:temperature"}, days
        for key, points in history.items():
            assert points, key
            for point in points:
                assert set(point) == {"time", "value"}
                _iso(point["time"])
                assert isinstance(point["value"], int | float)
        for key, value in (("dht22:temperature", 22.5), ("sht40:temperature", 23.1)):
            assert all(p["value"] == pytest.approx(value) for p in history[key]), (days, key)
    hourly = (await app.http.get(f"/api/modules/{m}/history", params={"days": 7})).json()
    assert all(_iso(p["time"]).minute == 0 for p in hourly["sht40:temperature"])

    data = (await app.http.get(f"/api/modules/{m}/data", params={"days": 1})).json()
    assert set(data) == {"status", "sensors"}
    assert data["sensors"]["dht22:temperature"] == history_1d(await _history(app, m))

    # useModuleStorage.ts: rowCount, estimatedSizeBytes, activeSensors[{sensorType,
    # intervalSeconds, rowCount}] (projections default to 60 s when intervalSeconds is null).
    storage = (await app.http.get(f"/api/modules/{m}/storage")).json()
    assert storage["rowCount"] == 36 and storage["estimatedSizeBytes"] > 0
    _iso(storage["oldestMeasurement"])
    _iso(storage["newestMeasurement"])
    assert storage["activeSensors"] == [{"sensorType": "co2", "intervalSeconds": 60, "rowCount": 0}]

    # useDatabase.ts reads totalSizeBytes (SensorConfigSection.vue).
    assert isinstance((await app.http.get("/api/db-size")).json()["totalSizeBytes"], int)


async def _history(app: RunningApp, module_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await app.http.get(f"/api/modules/{module_id}/history", params={"days": 1})
    ).json()
    return body


def history_1d(history: dict[str, Any]) -> Any:
    return history["dht22:temperature"]


async def test_sensor_controls_reach_the_module_through_the_broker(
    app: RunningApp, broker_url: str, seed_module: str
) -> None:
    m = seed_module
    async with Publisher(broker_url, f"fw-listen-{m}") as firmware:
        firmware.client.subscribe(f"{m}/sensors/+", qos=1)
        await asyncio.sleep(0)  # subscription is sent before the requests below

        async def received(topic: str) -> tuple[bytes, bool]:
            while True:
                got, payload, retained = await asyncio.wait_for(firmware.received.get(), 10)
                if got == topic:
                    return payload, retained

        # HardwareSensorRow.saveInterval: composite keys, interval only, no token.
        await _subscribed(firmware, m)
        body = {
            "sensors": {"dht22:temperature": {"interval": 30}, "dht22:humidity": {"interval": 30}}
        }
        answer = await app.http.post(f"/api/modules/{m}/config", json=body)
        assert answer.status_code == 200 and answer.json()["success"] is True
        payload, _ = await received(f"{m}/sensors/config")
        assert json.loads(payload)["sensors"]["dht22:temperature"] == {"interval": 30}

        # HardwareSensorRow.resetSensor: {sensor: first measurement key}; reads success/message.
        answer = await app.http.post(
            f"/api/modules/{m}/reset-sensor", json={"sensor": "temperature"}
        )
        assert answer.status_code == 200 and answer.json()["success"] is True
        assert isinstance(answer.json()["message"], str)
        payload, retained = await received(f"{m}/sensors/reset")
        assert json.loads(payload) == {"sensor": "temperature"} and not retained

        # HardwareSensorRow.toggleEnabled → {id}/sensors/enable (docs/features/sensor-stop.md).
        answer = await app.http.post(
            f"/api/modules/{m}/hardware/enable", json={"hardware": "dht22", "enabled": False}
        )
        assert answer.status_code == 200 and answer.json()["success"] is True
        payload, retained = await received(f"{m}/sensors/enable")
        assert json.loads(payload) == {"hardware": "dht22", "enabled": False} and not retained

    # UnifiedSensorCard: PATCH {"sensor-pref-<label>": key}; BenchModulePanel reads it back.
    answer = await app.http.patch(
        f"/api/modules/{m}/preferences", json={"sensor-pref-Température": "sht40:temperature"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    await app.http.patch(f"/api/modules/{m}/preferences", json={"sensor-pref-CO2": "co2"})
    status = (await app.http.get(f"/api/modules/{m}/status")).json()
    assert status["preferences"] == {
        "sensor-pref-Température": "sht40:temperature", "sensor-pref-CO2": "co2",
    }  # fmt: skip
    assert status["sensorsConfig"]["sensors"]["dht22:temperature"]["interval"] == 30


async def _subscribed(firmware: Publisher, module_id: str) -> None:
    """A message of our own comes back: the subscription is active."""
    firmware.publish(f"{module_id}/sensors/marker", b"x")
    while (await asyncio.wait_for(firmware.received.get(), 10))[0] != f"{module_id}/sensors/marker":
        pass


async def test_zones_as_the_zone_drawer_uses_them(app: RunningApp, seed_module: str) -> None:
    m = seed_module
    # useZones.createZone: POST {name, description: null} → Zone {id, name, description, createdAt}
    created = await app.http.post("/api/zones", json={"name": f"Serre {m}", "description": None})
    assert created.status_code == 201, created.text
    zone = created.json()
    assert set(zone) == {"id", "name", "description", "createdAt"}
    _iso(zone["createdAt"])
    zid = zone["id"]
    # fetchZones: GET /api/zones, then GET /api/zones/{id} for its devices.
    assert any(z["id"] == zid for z in (await app.http.get("/api/zones")).json())
    assert (await app.http.get(f"/api/zones/{zid}")).json()["devices"] == []
    # assignDevice: POST with body {} ("Required for Fastify").
    assigned = await app.http.post(f"/api/zones/{zid}/devices/{m}", json={})
    assert assigned.status_code == 200 and assigned.json()["success"] is True
    detail = (await app.http.get(f"/api/zones/{zid}")).json()
    [device] = detail["devices"]
    assert device["moduleId"] == m and device["moduleType"] == "air-quality-bench"
    assert device["name"] is None or isinstance(device["name"], str)
    # index.vue groups modules by zone; BenchModuleHeader falls back to status.zoneName.
    assert (await app.http.get(f"/api/modules/{m}/status")).json()["zoneName"] == f"Serre {m}"
    # updateZone: PUT {name, description}
    renamed = await app.http.put(f"/api/zones/{zid}", json={"name": "Salon", "description": "x"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Salon"
    # unassignDevice: DELETE /api/modules/{id}/zone
    removed = await app.http.delete(f"/api/modules/{m}/zone")
    assert removed.status_code == 200 and removed.json()["success"] is True
    assert (await app.http.get(f"/api/zones/{zid}")).json()["devices"] == []
    # deleteZone: DELETE /api/zones/{id}; its modules become unassigned.
    await app.http.post(f"/api/zones/{zid}/devices/{m}", json={})
    assert (await app.http.delete(f"/api/zones/{zid}")).status_code == 204
    assert (await app.http.get(f"/api/zones/{zid}")).status_code == 404
    assert (await app.http.get(f"/api/modules/{m}/status")).json()["zoneName"] is None


async def test_logs_page_filters_pages_histogram_and_delete(
    app: RunningApp, seed_module: str
) -> None:
    m = seed_module
    await app.http.post(f"/api/modules/{m}/config", json={"sensors": {"co2": {"interval": 45}}})
    await app.http.post("/api/zones", json={"name": f"logs {m}"})
    end = datetime.now(UTC) + timedelta(seconds=5)
    window = {"startDate": _js(end - timedelta(hours=24)), "endDate": _js(end)}

    # pages/logs.vue: limit, offset, repeated category/level, source, direction, search, dates;
    # reads logs[].{id, time, source, direction, category, details.moduleId, level, msg}, total.
    page = (
        await app.http.get("/api/logs", params={"limit": "100", "offset": "0", **window})
    ).json()
    assert set(page) == {"logs", "total", "limit", "offset"}
    assert page["total"] == 3 and page["limit"] == 100 and page["offset"] == 0
    for entry in page["logs"]:
        assert set(entry) == {"id", "category", "source", "direction", "level", "msg", "time",
                              "details"}  # fmt: skip
        assert isinstance(entry["id"], str)
        _iso(entry["time"])
    times = [entry["time"] for entry in page["logs"]]
    assert times == sorted(times, reverse=True)

    device = (await app.http.get("/api/logs", params={"category": "HARDWARE", **window})).json()
    assert [
        (e["msg"], e["level"], e["direction"], e["details"]["moduleId"]) for e in device["logs"]
    ] == [("sensor timeout", "warn", "IN", m)]
    both = await app.http.get(
        "/api/logs", params=[("category", "MQTT"), ("category", "API"), *window.items()]
    )
    assert {e["category"] for e in both.json()["logs"]} == {"MQTT", "API"}
    pushed = next(e for e in both.json()["logs"] if e["category"] == "MQTT")
    assert pushed["source"] == "USER" and pushed["direction"] == "OUT"
    assert pushed["details"]["moduleId"] == m
    assert (await app.http.get("/api/logs", params={"search": "timeout"})).json()["total"] == 1
    assert (await app.http.get("/api/logs", params={"level": "warn"})).json()["total"] == 1
    assert (await app.http.get("/api/logs", params={"source": "USER"})).json()["total"] == 2
    second = (await app.http.get("/api/logs", params={"limit": 1, "offset": 1})).json()
    assert second["total"] == 3 and second["logs"][0]["id"] == page["logs"][1]["id"]

    # LogHistogram.vue: [{slot, counts: {category: n}}], one slot per 10 minutes, empty ones too.
    slots = (await app.http.get("/api/logs/histogram", params=window)).json()
    assert 144 <= len(slots) <= 146
    starts = [_iso(s["slot"]) for s in slots]
    assert all(b - a == timedelta(minutes=10) for a, b in pairwise(starts))
    totals: dict[str, int] = {}
    for s in slots:
        for category, count in s["counts"].items():
            totals[category] = totals.get(category, 0) + count
    assert totals == {"HARDWARE": 1, "MQTT": 1, "API": 1}

    # deleteAllLogs: DELETE → {message}; the deletion itself is the one entry left.
    deleted = await app.http.delete("/api/logs")
    assert deleted.status_code == 200 and deleted.json()["deletedCount"] == 3
    assert isinstance(deleted.json()["message"], str)
    assert (await app.http.get("/api/logs")).json()["total"] == 1


def _js(moment: datetime) -> str:
    """What `Date.toISOString()` sends."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def test_module_types_and_manifests(app: RunningApp) -> None:
    # useModuleRegistry.ts: [{id, name, version}], then a manifest with hardware, sensors, actions.
    types = (await app.http.get("/api/modules/types")).json()
    assert {"air-quality", "air-quality-bench"} <= {t["id"] for t in types}
    assert all(set(t) == {"id", "name", "version"} for t in types)
    manifest = (await app.http.get("/api/modules/types/air-quality-bench/manifest")).json()
    assert set(manifest) == {"id", "name", "version", "hardware", "sensors", "actions"}
    dht22 = next(h for h in manifest["hardware"] if h["key"] == "dht22")
    assert dht22["type"] == "sensor" and dht22["sensors"] == ["temperature", "humidity"]
    assert all(set(s) == {"key", "label", "unit", "range"} for s in manifest["sensors"])
    unknown = await app.http.get("/api/modules/types/lighting/manifest")
    assert unknown.status_code == 404


async def test_live_values_arrive_as_mqtt_data(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    # useMqtt.ts listens to `mqtt:data` {topic, value, time, metadata} over the websocket
    # transport only; useModulesData routes it by topic.
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("mqtt:data", events.put_nowait)
    await sio.connect(app.base_url, transports=["websocket"], wait_timeout=10)
    try:
        async with Publisher(broker_url, f"fw-{module_id}") as firmware:
            firmware.publish(f"{module_id}/dht22/temperature", "21.5")
            await firmware.drain()
        event = await asyncio.wait_for(events.get(), 5)
    finally:
        await sio.disconnect()
    assert event["topic"] == f"{module_id}/dht22/temperature" and event["value"] == 21.5
    _iso(event["time"])


async def test_every_module_of_the_list_has_a_status(app: RunningApp, seed_module: str) -> None:
    """index.vue loads status and history for each listed module: none may answer 404."""
    await wait_until(lambda: _listed(app, seed_module), what="the module listed")
    for module in (await app.http.get("/api/modules")).json():
        assert (await app.http.get(f"/api/modules/{module['id']}/status")).status_code == 200


async def _listed(app: RunningApp, module_id: str) -> bool:
    return any(x["id"] == module_id for x in (await app.http.get("/api/modules")).json())
