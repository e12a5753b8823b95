"""Issue 12 items 3, 4, 8, 9 and issue 15's firmware ranges through the real broker and database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.support import Publisher, RunningApp, db_count, metric_total, running_app, wait_until


async def _row(url: str, sql: str, *args: object) -> asyncpg.Record:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(sql, *args)
    finally:
        await connection.close()
    assert row is not None, sql
    return row


async def _metric(app: RunningApp, name: str) -> float:
    return metric_total((await app.http.get("/metrics")).text, name)


async def _publish_then_marker(
    app: RunningApp,
    broker_url: str,
    module_id: str,
    messages: list[tuple[str, bytes | str]],
    marker: str = "marker",
) -> None:
    """Publish `messages`, then a reading of sensor type `marker` (a new one per call), and wait
    until it is stored: batches are written in order, so everything before it is written too."""
    url = app.settings.database_url
    assert url is not None
    async with Publisher(broker_url, f"pub-{module_id}"[:64]) as publisher:
        for topic, payload in messages:
            publisher.publish(topic, payload)
        publisher.publish(f"{module_id}/{marker}", "1")
        await publisher.drain()
    await wait_until(
        lambda: db_count(
            url,
            "SELECT count(*) FROM measurements WHERE module_id = $1 AND sensor_type = $2",
            module_id,
            marker,
        ),
        what=f"the {marker} reading",
    )


# --- 12.3 ------------------------------------------------------------------------------------------


async def test_old_but_plausible_readings_keep_their_time_and_older_ones_are_too_old(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    url = app.settings.database_url
    assert url is not None
    m = module_id
    now = datetime.now(UTC).replace(microsecond=0)
    week_ago = [now - timedelta(days=8, hours=h) for h in range(3)]  # a flash buffer flushed late
    beyond = now - app.settings.retain_for - timedelta(days=1)
    messages: list[tuple[str, bytes | str]] = [
        (f"{m}/temperature", json.dumps({"value": 10 + n, "time": t.isoformat()}))
        for n, t in enumerate(week_ago)
    ]
    messages.append((f"{m}/temperature", json.dumps({"value": 99, "time": beyond.timestamp()})))
    messages.append((f"{m}/humidity", json.dumps({"value": 50, "time": 3600})))  # uptime: no clock
    await _publish_then_marker(app, broker_url, m, messages)

    async def too_old_counted() -> bool:
        text = (await app.http.get("/metrics")).text
        return 'sensorhub_messages_rejected_total{reason="too_old"} 1.0' in text

    await wait_until(too_old_counted, what="the too_old rejection")
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT sensor_type, value, time FROM measurements WHERE module_id = $1 "
            "AND sensor_type NOT LIKE 'marker%' ORDER BY sensor_type, value",
            m,
        )
    finally:
        await connection.close()
    humidity = [r for r in rows if r["sensor_type"] == "humidity"]
    temperature = [(r["value"], r["time"]) for r in rows if r["sensor_type"] == "temperature"]
    assert temperature == [(10 + n, t) for n, t in enumerate(week_ago)]  # not re-stamped to now
    assert len(humidity) == 1 and abs(humidity[0]["time"] - now) < timedelta(minutes=5)
    assert await _metric(app, "sensorhub_clock_corrections_total") == 1


# --- 12.4 ------------------------------------------------------------------------------------------


async def test_unreadable_fields_keep_the_stored_values(
    app: RunningApp, broker_url: str, module_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = app.settings.database_url
    assert url is not None
    m = module_id
    good: list[tuple[str, bytes | str]] = [
        (f"{m}/system", json.dumps({"rssi": -45, "memory": {"heapFreeKb": 123}})),
        (f"{m}/hardware/config", json.dumps({"chip": {"cores": 2, "model": "ESP32"}})),
        (f"{m}/sensors/config", json.dumps({"co2": {"interval": 30, "model": "mhz14a"}})),
        (f"{m}/sensors/status", json.dumps({"co2": {"status": "ok", "value": 612}})),
    ]
    await _publish_then_marker(app, broker_url, m, good)
    bad: list[tuple[str, bytes | str]] = [
        (f"{m}/system", '{"rssi": "-67 dBm", "memory": {"heapFreeKb": "151 KB"}}'),  # the issue's
        (f"{m}/system/config", json.dumps({"rssi": True, "memory": {"heapFreeKb": 2**40}})),
        (f"{m}/hardware/config", json.dumps({"chip": {"cores": "two", "model": {"x": 1}}})),
        (f"{m}/sensors/config", json.dumps({"co2": {"interval": "60s", "model": False}})),
        (f"{m}/sensors/status", json.dumps({"co2": {"status": [1], "value": "640 ppm"}})),
    ]
    await _publish_then_marker(app, broker_url, m, bad, marker="marker-2")

    status = await _row(url, "SELECT * FROM device_system_status WHERE module_id = $1", m)
    assert (status["rssi"], status["heap_free_kb"]) == (-45, 123)
    hardware = await _row(url, "SELECT * FROM device_hardware WHERE module_id = $1", m)
    assert (hardware["cores"], hardware["chip_model"]) == (2, "ESP32")
    config = await _row(url, "SELECT * FROM sensor_config WHERE module_id = $1", m)
    assert (config["interval_s"], config["model"]) == (30, "mhz14a")
    sensor = await _row(url, "SELECT * FROM sensor_status WHERE module_id = $1", m)
    assert (sensor["status"], sensor["value"]) == ("ok", 612)
    text = (await app.http.get("/metrics")).text
    assert metric_total(text, "sensorhub_fields_ignored_total") == 10
    assert 'sensorhub_fields_ignored_total{reason="unit_suffix"} 4.0' in text
    assert 'sensorhub_fields_ignored_total{reason="wrong_type"} 4.0' in text
    assert 'sensorhub_fields_ignored_total{reason="not_a_number"} 1.0' in text
    assert 'sensorhub_fields_ignored_total{reason="out_of_range"} 1.0' in text
    assert metric_total(text, "sensorhub_messages_rejected_total") == 0
    logged = [r.getMessage() for r in caplog.records if "unreadable fields" in r.getMessage()]
    assert logged and m in logged[0] and "rssi (unit_suffix)" in logged[0]
    assert len(logged) < 5  # rate-limited


# --- 12.8 ------------------------------------------------------------------------------------------


async def test_seed_firmware_shapes_are_stored(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    url = app.settings.database_url
    assert url is not None
    m = module_id
    system_config = {
        "ip": "192.168.1.42",
        "mac": "24:6F:28:AA:BB:CC",
        "moduleType": "air-quality-bench",
        "uptimeStart": 3600,  # millis() / 1000
        "rssi": -61,
        "flash": {"totalKb": 4096, "usedKb": 1210, "freeKb": 1890},
        "memory": {"heapTotalKb": 320, "heapFreeKb": 151, "heapMinFreeKb": 98},
    }
    sensors_config = {"dht22": {"interval": 30, "enabled": False}, "sht40": {"enabled": True}}
    before = datetime.now(UTC)
    await _publish_then_marker(
        app,
        broker_url,
        m,
        [
            (f"{m}/system/config", json.dumps(system_config)),
            (f"{m}/sensors/config", json.dumps(sensors_config)),
        ],
    )
    after = datetime.now(UTC)
    status = await _row(url, "SELECT * FROM device_system_status WHERE module_id = $1", m)
    assert (status["rssi"], status["heap_free_kb"], status["heap_min_free_kb"]) == (-61, 151, 98)
    assert (status["flash_total_kb"], status["flash_used_kb"], status["flash_free_kb"]) == (
        4096,
        1210,
        1890,
    )
    assert before - timedelta(hours=1) <= status["booted_at"] <= after - timedelta(hours=1)
    assert status["uptime_start"] == "3600"
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT sensor_type, interval_s, enabled FROM sensor_config WHERE module_id = $1 "
            "ORDER BY sensor_type",
            m,
        )
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [("dht22", 30, False), ("sht40", None, True)]
    # …and served as the seed's dashboard reads them.
    served = (await app.http.get(f"/api/modules/{m}/status")).json()
    assert served["system"]["flash"]["systemKb"] == 4096  # the firmware's totalKb
    assert served["system"]["bootedAt"] is not None
    assert served["system"]["rssi"] == -61
    reported = served["sensorsConfig"]["reported"]
    assert reported["dht22"] == {"interval": 30, "model": None, "enabled": False}
    assert reported["sht40"]["enabled"] is True


# --- 12.9 and issue 15 -----------------------------------------------------------------------------

COMPOSED = "gew\u00e4chshaus"
DECOMPOSED = "gewa\u0308chshaus"


@pytest.fixture
async def ranges_app(
    database_url: str, broker_url: str, data_dir: Path, module_id: str, tmp_path: Path
) -> AsyncIterator[RunningApp]:
    """sensorhub with an operator range file, subscribed to both spellings of a unicode id."""
    ranges = tmp_path / "ranges.toml"
    ranges.write_text("[types.radon]\nunit = 'Bq/m3'\nmin = 0\nmax = 1000\n")
    topics = [f"{module_id}/#", f"{module_id}-{COMPOSED}/#", f"{module_id}-{DECOMPOSED}/#"]
    async with running_app(
        DATABASE_URL=database_url,
        MQTT_URL=broker_url,
        DATA_DIR=str(data_dir),
        MQTT_TOPICS=",".join(topics),
        MQTT_CLIENT_ID=f"sh-{module_id}"[:64],
        BUFFER_MAX_AGE="0.2",
        SENSOR_RANGES_FILE=str(ranges),
    ) as running:
        yield running


async def test_nul_bytes_unicode_ids_and_ranges(
    ranges_app: RunningApp, broker_url: str, module_id: str
) -> None:
    app = ranges_app
    url = app.settings.database_url
    assert url is not None
    m = module_id
    await _publish_then_marker(
        app,
        broker_url,
        m,
        [
            (f"{m}/temperature", b"21.5\0"),  # a C string's terminator
            (f"{m}/system", b'{"rssi": -50}\0'),
            (f"{m}-{COMPOSED}/temperature", "20.5"),
            (f"{m}-{DECOMPOSED}/temperature", "20.75"),
            (f"{m}/bmp280/pressure", "1150"),  # the seed's ranges (issue 15)
            (f"{m}/sps30/pm25", "1500"),
            (f"{m}/ds18b20/temperature", "85"),  # power-on value: a sentinel
            (f"{m}/ds18b20/temperature", "-127"),  # probe disconnected
            (f"{m}/ds18b20/temperature", "-54.5"),
            (f"{m}/radon", "1001"),  # above the operator's range
            (f"{m}/radon", "999"),
        ],
    )

    async def rejections_counted() -> bool:
        return await _metric(app, "sensorhub_messages_rejected_total") >= 3

    await wait_until(rejections_counted, what="the rejections")
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT module_id, hardware_id, sensor_type, value FROM measurements "
            "WHERE module_id LIKE $1 AND sensor_type NOT LIKE 'marker%' ORDER BY 1, 2, 3, 4",
            f"{m}%",
        )
        modules = await connection.fetch(
            "SELECT module_id FROM device_system_status WHERE module_id LIKE $1 ORDER BY 1",
            f"{m}%",
        )
        rssi = await connection.fetchval(
            "SELECT rssi FROM device_system_status WHERE module_id = $1", m
        )
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [
        (m, "bmp280", "pressure", 1150),
        (m, "default", "radon", 999),
        (m, "default", "temperature", 21.5),
        (m, "ds18b20", "temperature", -54.5),
        (m, "sps30", "pm25", 1500),
        (f"{m}-{COMPOSED}", "default", "temperature", 20.5),
        (f"{m}-{COMPOSED}", "default", "temperature", 20.75),
    ]
    assert [r["module_id"] for r in modules] == [m, f"{m}-{COMPOSED}"]  # one module, not two
    assert rssi == -50
    text = (await app.http.get("/metrics")).text
    assert metric_total(text, "sensorhub_payloads_nul_stripped_total") == 2
    assert 'sensorhub_messages_rejected_total{reason="sentinel"} 2.0' in text
    assert 'sensorhub_messages_rejected_total{reason="out_of_range"} 1.0' in text
