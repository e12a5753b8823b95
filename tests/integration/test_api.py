"""The REST API (docs/contract.md §6) against real PostgreSQL, with data ingested through the real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import socketio

from sensorhub.db.rollup import refresh_rollup
from sensorhub.modules.system.sampler import sample_metrics
from tests.support import Publisher, RunningApp, db_count, running_app, wait_until


def _z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reading(value: float, when: datetime) -> str:
    return json.dumps({"value": value, "time": when.isoformat()})


async def _connect(app: RunningApp) -> asyncpg.Connection:
    assert app.settings.database_url is not None
    return await asyncpg.connect(app.settings.database_url)


async def _measurements(app: RunningApp, module_id: str) -> int:
    url = app.settings.database_url
    assert url is not None
    return await db_count(url, "SELECT count(*) FROM measurements WHERE module_id = $1", module_id)


async def _announce(app: RunningApp, broker_url: str, module_id: str) -> None:
    """Make the module known: one status message through the broker."""
    async with Publisher(broker_url, f"hello-{module_id}") as publisher:
        publisher.publish(f"{module_id}/system", json.dumps({"rssi": -50}))
        await publisher.drain()
    await wait_until(
        lambda: _status_code(app, module_id, 200), what=f"module {module_id} to be known"
    )


async def _status_code(app: RunningApp, module_id: str, expected: int) -> bool:
    return (await app.http.get(f"/api/modules/{module_id}/status")).status_code == expected


@pytest.fixture
async def retained_cleanup(broker_url: str, module_id: str) -> AsyncIterator[None]:
    """Never leave a retained configuration for this test's module on the shared broker."""
    yield
    async with Publisher(broker_url, f"clean-{module_id}") as publisher:
        publisher.publish(f"{module_id}/sensors/config", b"", retain=True)
        await publisher.drain()


async def test_modules_list_and_status(app: RunningApp, broker_url: str, module_id: str) -> None:
    m = module_id
    async with Publisher(broker_url, f"pub-{m}") as publisher:
        publisher.publish(f"{m}/system", json.dumps({"rssi": -45, "memory": {"heapFreeKb": 123}}))
        publisher.publish(
            f"{m}/system/config",
            json.dumps({"ip": "10.0.0.7", "mac": "AA:BB", "moduleType": "air-quality",
                        "flash": {"usedKb": 1000, "freeKb": 3000, "systemKb": 100}}),
        )  # fmt: skip
        publisher.publish(
            f"{m}/hardware/config",
            json.dumps({"chip": {"model": "ESP32-S3", "rev": 2, "cpuFreqMhz": 240, "cores": 2}}),
        )
        publisher.publish(
            f"{m}/sensors/status", json.dumps({"co2": {"status": "ok", "value": 612}})
        )
        publisher.publish(
            f"{m}/sensors/config", json.dumps({"sensors": {"co2": {"interval": 60, "model": "x"}}})
        )
        publisher.publish(f"{m}/temperature", "21.5")
        await publisher.drain()

    async def complete() -> bool:
        response = await app.http.get("/api/modules")
        modules = {module["id"]: module for module in response.json()}
        module = modules.get(m)
        return (
            module is not None
            and module["type"] == "air-quality"
            and module["sensors"] == ["co2", "temperature"]
        )

    await wait_until(complete, what="the module with its sensors in /api/modules")
    listed = next(x for x in (await app.http.get("/api/modules")).json() if x["id"] == m)
    assert set(listed) == {
        "id",
        "name",
        "type",
        "status",
        "lastSeen",
        "online",
        "sensors",
        "zoneId",
    }
    assert listed["name"] == m and listed["status"] is None and listed["zoneId"] is None
    assert listed["online"] is True
    assert listed["lastSeen"].endswith("Z")

    await wait_until(
        lambda: _hardware_known(app, m), what="hardware and sensor config in the status"
    )
    status = (await app.http.get(f"/api/modules/{m}/status")).json()
    assert set(status) == {
        "id", "name", "moduleType", "zoneName", "online", "lastSeen", "system", "hardware",
        "sensors", "sensorsConfig", "preferences",
    }  # fmt: skip
    assert status["id"] == m and status["moduleType"] == "air-quality"
    assert status["online"] is True and status["lastSeen"].endswith("Z")
    assert status["zoneName"] is None
    system = status["system"]
    assert system["rssi"] == -45 and system["ip"] == "10.0.0.7" and system["mac"] == "AA:BB"
    assert system["memory"]["heapFreeKb"] == 123
    assert system["flash"] == {"usedKb": 1000, "freeKb": 3000, "systemKb": 100, "totalKb": None}
    assert status["hardware"]["chip"]["model"] == "ESP32-S3"
    assert status["hardware"]["chip"]["cpuFreqMhz"] == 240
    assert status["sensors"]["co2"] == {"status": "ok", "value": 612}
    reported = {"co2": {"interval": 60, "model": "x"}}
    assert status["sensorsConfig"] == {
        "sensors": reported, "desired": {}, "reported": reported, "inSync": True, "pending": [],
    }  # fmt: skip
    assert status["preferences"] == {}


async def _hardware_known(app: RunningApp, module_id: str) -> bool:
    status = (await app.http.get(f"/api/modules/{module_id}/status")).json()
    return status.get("hardware") is not None and bool(status["sensorsConfig"]["reported"])


async def test_offline_when_not_seen_within_three_intervals(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    await _announce(app, broker_url, module_id)
    connection = await _connect(app)
    try:
        await connection.execute(
            "INSERT INTO sensor_config (module_id, sensor_type, interval_s) VALUES ($1, 'co2', 60)",
            module_id,
        )
        await connection.execute(
            "UPDATE device_system_status SET last_seen = now() - interval '179 seconds' "
            "WHERE module_id = $1",
            module_id,
        )
        assert await _online(app, module_id) is True
        await connection.execute(
            "UPDATE device_system_status SET last_seen = now() - interval '181 seconds' "
            "WHERE module_id = $1",
            module_id,
        )
        assert await _online(app, module_id) is False
    finally:
        await connection.close()


async def _online(app: RunningApp, module_id: str) -> bool:
    modules = (await app.http.get("/api/modules")).json()
    online: bool = next(x for x in modules if x["id"] == module_id)["online"]
    return online


async def test_history_resolution_follows_the_range_and_averages_are_right(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    m = module_id
    now = datetime.now(UTC).replace(microsecond=0)
    raw_time = now - timedelta(hours=1)
    minute = (now - timedelta(days=2)).replace(minute=15, second=0)
    hour = (now - timedelta(days=5)).replace(minute=0, second=0)
    async with Publisher(broker_url, f"pub-{m}") as publisher:
        # Raw: two hardware ids at the same instant are averaged; one more reading a minute later.
        publisher.publish(f"{m}/a/temperature", _reading(20.0, raw_time))
        publisher.publish(f"{m}/b/temperature", _reading(24.0, raw_time))
        publisher.publish(f"{m}/temperature", _reading(21.0, raw_time + timedelta(minutes=1)))
        for second, value in ((0, 40.0), (10, 50.0), (20, 60.0)):
            publisher.publish(f"{m}/humidity", _reading(value, minute + timedelta(seconds=second)))
        publisher.publish(f"{m}/humidity", _reading(70.0, minute + timedelta(minutes=1)))
        for minutes, value in ((10, 1000.0), (20, 1010.0), (40, 1050.0)):
            publisher.publish(f"{m}/pressure", _reading(value, hour + timedelta(minutes=minutes)))
        await publisher.drain()
    await wait_until(lambda: _count_is(app, m, 10), what="10 measurements")

    raw = (await app.http.get(f"/api/modules/{m}/history", params={"days": 1})).json()
    # One series per hardware id and sensor type, never averaged together (issue 12 item 7).
    assert raw == {
        "a:temperature": [{"time": _z(raw_time), "value": 20.0}],
        "b:temperature": [{"time": _z(raw_time), "value": 24.0}],
        "temperature": [{"time": _z(raw_time + timedelta(minutes=1)), "value": 21.0}],
    }

    by_minute = (await app.http.get(f"/api/modules/{m}/history", params={"days": 3})).json()
    assert by_minute["humidity"] == [  # newest first, as the Node backend
        {"time": _z(minute + timedelta(minutes=1)), "value": 70.0},
        {"time": _z(minute), "value": 50.0},
    ]
    assert by_minute["a:temperature"] == [{"time": _z(raw_time.replace(second=0)), "value": 20.0}]
    assert "pressure" not in by_minute

    # From 7 days on: hourly averages (the seed's rule), still per hardware id.
    hourly = (await app.http.get(f"/api/modules/{m}/history", params={"days": 7})).json()
    assert hourly["pressure"] == [{"time": _z(hour), "value": 1020.0}]
    assert hourly["humidity"] == [{"time": _z(minute.replace(minute=0)), "value": 55.0}]
    assert hourly["b:temperature"] == [
        {"time": _z(raw_time.replace(minute=0, second=0)), "value": 24.0}
    ]

    # `from`/`to` instead of `days`: a 30-minute window around the minute readings is raw.
    window = {"from": _z(minute - timedelta(minutes=15)), "to": _z(minute + timedelta(minutes=15))}
    explicit = (await app.http.get(f"/api/modules/{m}/history", params=window)).json()
    assert [p["value"] for p in explicit["humidity"]] == [70.0, 60.0, 50.0, 40.0]

    data = (await app.http.get(f"/api/modules/{m}/data", params={"days": 1})).json()
    assert set(data) == {"status", "sensors"}
    assert data["status"]["id"] == m
    assert data["sensors"] == raw


async def _count_is(app: RunningApp, module_id: str, expected: int) -> bool:
    return await _measurements(app, module_id) == expected


async def test_config_is_stored_merged_published_retained_and_broadcast(
    app: RunningApp, broker_url: str, module_id: str, retained_cleanup: None
) -> None:
    m = module_id
    await _announce(app, broker_url, m)
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("config-update", events.put_nowait)
    await sio.connect(app.base_url, wait_timeout=10)
    try:
        first = await app.http.post(
            f"/api/modules/{m}/config",
            json={"sensors": {"co2": {"interval": 60, "model": "mhz14a"}}},
        )
        assert first.status_code == 200, first.text
        assert first.json()["success"] is True and first.json()["message"]
        second = await app.http.post(
            f"/api/modules/{m}/config", json={"sensors": {"temperature": {"interval": 30}}}
        )
        assert second.status_code == 200, second.text
        full = {"co2": {"interval": 60, "model": "mhz14a"}, "temperature": {"interval": 30}}

        event = await asyncio.wait_for(events.get(), 10)
        assert event == {"moduleId": m, "config": {"sensors": {"co2": full["co2"]}}}
        event = await asyncio.wait_for(events.get(), 10)
        assert event == {"moduleId": m, "config": {"sensors": full}}
    finally:
        await sio.disconnect()

    async with Publisher(broker_url, f"fresh-{m}") as subscriber:
        subscriber.client.subscribe(f"{m}/sensors/config", qos=1)
        topic, payload, retained = await asyncio.wait_for(subscriber.received.get(), 10)
    assert topic == f"{m}/sensors/config" and retained
    assert json.loads(payload) == {"sensors": full}

    status = (await app.http.get(f"/api/modules/{m}/status")).json()
    desired = {**full, "temperature": {"interval": 30, "model": None}}
    assert status["sensorsConfig"]["desired"] == desired


async def test_delete_removes_every_row_and_the_retained_config(
    app: RunningApp, broker_url: str, module_id: str, retained_cleanup: None
) -> None:
    m = module_id
    url = app.settings.database_url
    assert url is not None
    async with Publisher(broker_url, f"pub-{m}") as publisher:
        publisher.publish(f"{m}/sensors/status", json.dumps({"co2": {"status": "ok"}}))
        publisher.publish(f"{m}/hardware/config", json.dumps({"chip": {"model": "ESP32"}}))
        publisher.publish(f"{m}/logs", json.dumps({"level": "info", "msg": "hi"}))
        publisher.publish(f"{m}/sensors/config", json.dumps({"co2": {"interval": 30}}))
        publisher.publish(f"{m}/co2", "600")
        await publisher.drain()
    await wait_until(lambda: _count_is(app, m, 1), what="the measurement")
    posted = await app.http.post(
        f"/api/modules/{m}/config", json={"sensors": {"co2": {"interval": 60}}}
    )
    assert posted.status_code == 200
    zone = (await app.http.post("/api/zones", json={"name": f"zone {m}"})).json()
    assigned = await app.http.post(f"/api/zones/{zone['id']}/devices/{m}")
    assert assigned.status_code == 200, assigned.text
    preferred = await app.http.patch(f"/api/modules/{m}/preferences", json={"a": 1})
    assert preferred.status_code == 200, preferred.text
    connection = await _connect(app)
    try:
        await refresh_rollup(connection)
    finally:
        await connection.close()
    tables = ["device_system_status", "device_hardware", "sensor_status", "sensor_config",
              "measurements", "device_logs", "measurements_hourly_rollup", "sensor_config_desired",
              "zone_modules", "module_preferences"]  # fmt: skip
    await wait_until(
        lambda: _all_have_rows(url, tables, m), what="rows of the module in every table"
    )

    deleted = await app.http.delete(f"/api/modules/{m}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["success"] is True
    for table in [*tables, "measurements_rollup_dirty"]:
        sql = f"SELECT count(*) FROM {table} WHERE module_id = $1"
        assert await db_count(url, sql, m) == 0, table
    assert (await app.http.get(f"/api/modules/{m}/status")).status_code == 404
    assert (await app.http.delete(f"/api/modules/{m}")).status_code == 404

    # A retained marker published after the deletion: once a fresh subscriber has it, the broker
    # has sent every retained message under the module, and the configuration is not among them.
    async with Publisher(broker_url, f"fresh-{m}") as subscriber:
        subscriber.publish(f"{m}/zz/marker", "marker", retain=True)
        await subscriber.drain()
        subscriber.client.subscribe(f"{m}/#", qos=1)
        topics = []
        while not topics or topics[-1] != f"{m}/zz/marker":
            topic, _, _ = await asyncio.wait_for(subscriber.received.get(), 10)
            topics.append(topic)
        subscriber.publish(f"{m}/zz/marker", b"", retain=True)
        await subscriber.drain()
    assert f"{m}/sensors/config" not in topics


async def _all_have_rows(url: str, tables: list[str], module_id: str) -> bool:
    for table in tables:
        if not await db_count(url, f"SELECT count(*) FROM {table} WHERE module_id = $1", module_id):
            return False
    return True


async def test_errors_are_json_and_name_the_problem(
    app: RunningApp, broker_url: str, module_id: str, retained_cleanup: None
) -> None:
    for method, path in [
        ("GET", "/api/modules/nope/status"),
        ("GET", "/api/modules/nope/history"),
        ("GET", "/api/modules/nope/data"),
        ("DELETE", "/api/modules/nope"),
    ]:
        response = await app.http.request(method, path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "module 'nope' not found", "status": 404}
    control = await app.http.get("/api/modules/a%00b/status")
    assert control.status_code == 422
    assert control.json()["detail"][0]["field"] == "path.module_id"
    await _announce(app, broker_url, module_id)
    config = f"/api/modules/{module_id}/config"
    bad_interval = await app.http.post(config, json={"sensors": {"co2": {"interval": 0}}})
    assert bad_interval.status_code == 422
    assert bad_interval.json()["status"] == 422
    assert bad_interval.json()["detail"][0]["field"] == "sensors.co2.interval"
    assert "sensors.co2.interval" in bad_interval.json()["error"]
    for body in (
        {"sensors": {"a/b": {"interval": 5}}},
        {"sensors": {"system": {"interval": 5}}},
        {"sensors": {"co2": {"interval": 86_401}}},
        {"sensors": {"co2": {"interval": 5, "colour": "red"}}},
        {"sensors": {"co2": {"interval": 5, "model": "m" * 65}}},
        {"sensors": {"co2": {"interval": 5, "model": "a\x00b"}}},
    ):
        response = await app.http.post(config, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["field"].startswith("sensors"), body
    history = f"/api/modules/{module_id}/history"
    for params, field in (
        ({"days": 0}, "query.days"),
        ({"days": 3651}, "query.days"),
        ({"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "query.from"),
        ({"from": "yesterday"}, "query.from"),
    ):
        response = await app.http.get(history, params=params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["field"] == field, params

    oversized = {"sensors": {"co2": {"interval": 5, "model": "x" * app.settings.max_body_bytes}}}
    too_large = await app.http.post(config, json=oversized)
    assert too_large.status_code == 413
    assert too_large.json()["status"] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(app.settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    chunked = await app.http.post(
        config, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["status"] == 413


async def test_writes_need_the_token_when_one_is_set(
    app_env: dict[str, str], broker_url: str, module_id: str, retained_cleanup: None
) -> None:
    token = "s3cret-token"
    async with running_app(**app_env, SENSORHUB_API_TOKEN=token) as app:
        await _announce(app, broker_url, module_id)
        config = f"/api/modules/{module_id}/config"
        body = {"sensors": {"co2": {"interval": 60}}}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            response = await app.http.post(config, json=body, headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["status"] == 401
            response = await app.http.delete(f"/api/modules/{module_id}", headers=headers)
            assert response.status_code == 401, headers

        for path in ("/api/modules", f"/api/modules/{module_id}/status", "/api/db-size"):
            assert (await app.http.get(path)).status_code == 200, path

        good = {"Authorization": f"Bearer {token}"}
        assert (await app.http.post(config, json=body, headers=good)).status_code == 200
        deleted = await app.http.delete(f"/api/modules/{module_id}", headers=good)
        assert deleted.status_code == 200


async def test_db_size_storage_and_metrics_history(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    m = module_id
    size = (await app.http.get("/api/db-size")).json()
    assert set(size) == {"totalSize", "totalSizeBytes"}
    assert size["totalSizeBytes"] > 0 and size["totalSize"].endswith(("MB", "kB", "GB"))
    assert any(job.name == "metrics-sampler" for job in app.runtime.jobs)

    connection = await _connect(app)
    try:
        await sample_metrics(connection, now=datetime.now(UTC) - timedelta(minutes=1))
        now = datetime.now(UTC).replace(microsecond=0)
        async with Publisher(broker_url, f"pub-{m}") as publisher:
            for seconds in range(30):
                publisher.publish(
                    f"{m}/co2", _reading(500 + seconds, now - timedelta(seconds=seconds))
                )
            await publisher.drain()
        await wait_until(lambda: _count_is(app, m, 30), what="30 measurements")
        await sample_metrics(connection)
        samples = (await app.http.get("/api/metrics-history", params={"days": 1})).json()
        assert [set(s) for s in samples["samples"]] == [
            {"time", "dbSizeBytes", "measurementCount", "moduleCount", "ingestRate"}
        ] * 2
        latest = samples["samples"][-1]
        assert latest["measurementCount"] == 30 and latest["moduleCount"] == 1
        assert latest["ingestRate"] > 0 and latest["dbSizeBytes"] > 0

        # Many samples are averaged down to at most 500 points.
        await connection.execute(
            "INSERT INTO system_metrics SELECT now() - make_interval(mins => 5 * i), 1, 2, 3, 4.0 "
            "FROM generate_series(1, 2000) AS i"
        )
        week = (await app.http.get("/api/metrics-history", params={"days": 7})).json()
        assert 450 <= len(week["samples"]) <= 500
        assert week["samples"][0]["ingestRate"] == 4.0
    finally:
        await connection.close()

    storage = (await app.http.get("/api/storage")).json()
    assert storage["storage"] == ("timescaledb" if app.runtime.timescale else "postgresql")
    assert storage["measurements"] == {
        "count": 30,
        "countIsEstimate": False,
        "oldest": _z(now - timedelta(seconds=29)),
        "newest": _z(now),
    }
    assert storage["databaseBytes"] > 0 and storage["databaseSize"]
    names = {table["name"] for table in storage["tables"]}
    assert {"measurements", "device_system_status", "system_metrics"} <= names
    assert set(storage["tables"][0]) == {"name", "bytes", "size"}
    if not app.runtime.timescale:
        assert storage["timescaledb"] is None
        assert isinstance(storage["rollupPendingBuckets"], int)


async def test_openapi_operation_ids_are_readable(app: RunningApp) -> None:
    schema = (await app.http.get("/openapi.json")).json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "modules-list_modules", "modules-get_module_data", "modules-get_module_status",
        "modules-get_module_history", "modules-update_module_config", "modules-delete_module",
        "modules-get_module_series", "modules-get_module_storage", "modules-get_module_config",
        "modules-reset_sensor", "modules-enable_hardware", "modules-update_preferences",
        "modules-list_module_types", "modules-get_module_type_manifest",
        "zones-list_zones", "zones-get_zone", "zones-create_zone", "zones-update_zone",
        "zones-delete_zone", "zones-assign_module", "zones-remove_module_from_zone",
        "zones-remove_module_zone", "logs-get_logs", "logs-get_logs_histogram", "logs-delete_logs",
        "system-get_db_size", "system-get_metrics_history", "system-get_storage",
    } <= ids  # fmt: skip


async def test_generated_requests_never_get_a_server_error(
    app: RunningApp, broker_url: str, module_id: str, retained_cleanup: None
) -> None:
    """Hypothesis over every GET's path and query parameters (and config bodies): no 5xx."""
    await _announce(app, broker_url, module_id)
    await asyncio.to_thread(_hammer, app.base_url, module_id)


def _hammer(base_url: str, module_id: str) -> None:
    from urllib.parse import quote

    import httpx
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    numbers = st.one_of(
        st.integers(-10, 200_000).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.text(max_size=8),
    )
    moments = st.one_of(
        st.datetimes(timezones=st.timezones() | st.none()).map(datetime.isoformat),
        st.text(max_size=30),
    )
    ids = st.one_of(st.just(module_id), st.text(min_size=1, max_size=80))
    params = st.fixed_dictionaries(
        {},
        optional={
            "days": numbers,
            "limit": numbers,
            "from": moments,
            "to": moments,
            "points": numbers,
            "raw": st.sampled_from(["true", "false", "1", "x"]),
            "cursor": st.text(max_size=40),
            "startDate": moments,
            "endDate": moments,
            "offset": numbers,
            "search": st.text(max_size=8),
        },
    )
    paths = st.sampled_from(
        ["/api/modules/{}/status", "/api/modules/{}/history", "/api/modules/{}/data",
         "/api/modules/{}/series", "/api/modules/{}/storage", "/api/modules/{}/config",
         "/api/modules", "/api/db-size", "/api/metrics-history", "/api/storage",
         "/api/modules/types", "/api/modules/types/{}/manifest", "/api/zones", "/api/zones/{}",
         "/api/logs", "/api/logs/histogram"]
    )  # fmt: skip
    setting = st.fixed_dictionaries(
        {}, optional={"interval": st.integers() | numbers, "model": st.text(max_size=70)}
    )
    bodies = st.one_of(
        st.fixed_dictionaries({"sensors": st.dictionaries(st.text(max_size=70), setting)}),
        st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10)),
    )

    with httpx.Client(base_url=base_url, timeout=30) as http:

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(path=paths, module=ids, query=params)
        def gets(path: str, module: str, query: dict[str, str]) -> None:
            url = path.format(quote(module, safe=""))
            response = http.get(url, params=query)
            assert response.status_code < 500, (url, query, response.text)
            if response.status_code >= 400:
                assert response.json()["status"] == response.status_code

        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
        # Only this test's module: a valid body publishes a retained configuration.
        @given(body=bodies)
        def posts(body: dict[str, Any]) -> None:
            response = http.post(f"/api/modules/{quote(module_id, safe='')}/config", json=body)
            assert response.status_code < 500 or response.status_code == 503, response.text

        gets()
        posts()
