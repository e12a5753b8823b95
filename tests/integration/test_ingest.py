"""Every message kind through the real broker into the real database; bad input rejected or fixed."""

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.support import Publisher, RunningApp, db_count, metric_total, wait_until


async def _rows(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


async def test_every_message_kind_lands_in_its_table(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    url = app.settings.database_url
    assert url is not None
    m = module_id
    stamp = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
    async with Publisher(broker_url, f"pub-{m}") as publisher:
        publisher.publish(
            f"{m}/system",
            json.dumps({"rssi": -45, "memory": {"heapFreeKb": 123, "heapMinFreeKb": 45}}),
        )
        publisher.publish(
            f"{m}/system/config",
            json.dumps({"ip": "10.0.0.7", "mac": "AA:BB", "uptimeStart": 1764500000, "moduleType": "air",
                        "flash": {"usedKb": 1000, "freeKb": 3000, "systemKb": 100}, "memory": {"heapTotalKb": 320}}),
        )  # fmt: skip
        publisher.publish(
            f"{m}/hardware/config",
            json.dumps(
                {
                    "chip": {
                        "model": "ESP32-S3",
                        "rev": 2,
                        "cpuFreqMhz": 240,
                        "flashKb": 8192,
                        "cores": 2,
                    }
                }
            ),
        )
        publisher.publish(
            f"{m}/sensors/status", json.dumps({"co2": {"status": "ok", "value": 612}})
        )
        publisher.publish(
            f"{m}/sensors/config",
            json.dumps({"sensors": {"co2": {"interval": 60, "model": "mhz14a"}}}),
        )
        publisher.publish(f"{m}/temperature", " 21.5 ")
        publisher.publish(
            f"{m}/dht22/humidity", json.dumps({"value": "55.5", "time": stamp.isoformat()})
        )
        publisher.publish(f"{m}/logs", json.dumps({"level": "WARN", "msg": "heap low"}))
        await publisher.drain()

        await wait_until(
            lambda: db_count(url, "SELECT count(*) FROM device_logs WHERE module_id = $1", m),
            what="the log row",
        )
        await wait_until(
            lambda: db_count(url, "SELECT count(*) FROM measurements WHERE module_id = $1", m),
            what="measurements",
        )

    status = (await _rows(url, "SELECT * FROM device_system_status WHERE module_id = $1", m))[0]
    assert (status["rssi"], status["heap_free_kb"], status["heap_min_free_kb"]) == (-45, 123, 45)
    assert (status["ip"], status["mac"], status["module_type"], status["heap_total_kb"]) == (
        "10.0.0.7",
        "AA:BB",
        "air",
        320,
    )
    assert (status["flash_used_kb"], status["flash_free_kb"], status["flash_system_kb"]) == (
        1000,
        3000,
        100,
    )
    assert status["booted_at"] == datetime.fromtimestamp(1764500000, UTC)
    assert status["last_seen"] is not None
    hardware = (await _rows(url, "SELECT * FROM device_hardware WHERE module_id = $1", m))[0]
    assert (hardware["chip_model"], hardware["chip_rev"], hardware["cpu_freq_mhz"], hardware["flash_kb"], hardware["cores"]) == (
        "ESP32-S3", 2, 240, 8192, 2,
    )  # fmt: skip
    sensor = (await _rows(url, "SELECT status, value FROM sensor_status WHERE module_id = $1", m))[
        0
    ]
    assert (sensor["status"], sensor["value"]) == ("ok", 612)
    config = (
        await _rows(
            url, "SELECT sensor_type, interval_s, model FROM sensor_config WHERE module_id = $1", m
        )
    )[0]
    assert tuple(config) == ("co2", 60, "mhz14a")
    rows = await _rows(
        url,
        "SELECT sensor_type, hardware_id, value, time FROM measurements WHERE module_id = $1 ORDER BY sensor_type",
        m,
    )
    assert [(r["sensor_type"], r["hardware_id"], r["value"]) for r in rows] == [
        ("humidity", "dht22", 55.5),
        ("temperature", "default", 21.5),
    ]
    assert rows[0]["time"] == stamp
    log = (await _rows(url, "SELECT level, message FROM device_logs WHERE module_id = $1", m))[0]
    assert tuple(log) == ("warn", "heap low")


async def test_bad_input_is_rejected_or_corrected_and_good_input_around_it_is_stored(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    url = app.settings.database_url
    assert url is not None
    m = module_id
    now = datetime.now(UTC)
    good_time = (now - timedelta(hours=1)).replace(microsecond=0)
    bad = [
        (f"{m}/temperature", b"{not json"),
        (f"{m}/temperature", b"\xff\xfe\x00"),
        (f"{m}/temperature", b"NaN"),
        (f"{m}/temperature", b""),
        (f"{m}/temperature", b"   "),
        (f"{m}/temperature", b"true"),
        (f"{m}/temperature", b'{"value": {}}'),
        (f"{m}/temperature", b"200"),
        (f"{m}/co2", b"-5"),
        (f"{m}/temperature", b"2" * 70_000),
        (f"{m}/a/b/c", b"1"),
        (f"{m}/sensors", b"1"),
    ]
    corrected = [
        (f"{m}/pressure", json.dumps({"value": 1000, "time": "1970-01-01T00:00:10Z"}).encode()),
        (
            f"{m}/pressure",
            json.dumps({"value": 1001, "time": (now + timedelta(days=400)).isoformat()}).encode(),
        ),
    ]
    good = [
        (
            f"{m}/humidity",
            json.dumps(
                {"value": 40 + n, "time": (good_time + timedelta(seconds=n)).isoformat()}
            ).encode(),
        )
        for n in range(5)
    ]
    before = (await app.http.get("/metrics")).text
    async with Publisher(broker_url, f"pub-{m}") as publisher:
        for index, (topic, payload) in enumerate(bad + corrected):
            publisher.publish(*good[index % len(good)]) if index % 3 == 0 else None
            publisher.publish(topic, payload)
        for message in good:
            publisher.publish(*message)
        await publisher.drain()
        await wait_until(
            lambda: db_count(
                url,
                "SELECT count(*) FROM measurements WHERE module_id = $1 AND sensor_type = 'pressure'",
                m,
            ),
            what="corrected readings",
        )
        expected_rejections = len(bad)

        async def all_rejections_counted() -> bool:
            text = (await app.http.get("/metrics")).text
            return (
                metric_total(text, "sensorhub_messages_rejected_total")
                - metric_total(before, "sensorhub_messages_rejected_total")
                >= expected_rejections
            )

        await wait_until(all_rejections_counted, what="rejection counters")

    rows = await _rows(
        url,
        "SELECT sensor_type, value, time FROM measurements WHERE module_id = $1 ORDER BY sensor_type, value",
        m,
    )
    humidity = [r for r in rows if r["sensor_type"] == "humidity"]
    assert [r["value"] for r in humidity] == [40, 41, 42, 43, 44]
    assert [r["sensor_type"] for r in rows if r["sensor_type"] != "humidity"] == [
        "pressure",
        "pressure",
    ]
    for row in rows:
        if row["sensor_type"] == "pressure":
            assert abs(row["time"] - datetime.now(UTC)) < timedelta(minutes=5), (
                "device clock replaced by receive time"
            )
    metrics = (await app.http.get("/metrics")).text
    for reason in (
        "malformed_json",
        "not_utf8",
        "not_a_number",
        "out_of_range",
        "payload_too_large",
        "invalid_topic",
    ):
        assert f'sensorhub_messages_rejected_total{{reason="{reason}"}}' in metrics, reason
    assert metric_total(metrics, "sensorhub_clock_corrections_total") >= 2
    assert (await app.http.get("/health")).status_code == 200


async def test_duplicate_keys_in_one_batch_and_across_batches_keep_the_last_value(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    url = app.settings.database_url
    assert url is not None
    stamp = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        for value in (10, 11, 12):
            publisher.publish(
                f"{module_id}/temperature", json.dumps({"value": value, "time": stamp})
            )
        await publisher.drain()
        await wait_until(
            lambda: db_count(
                url,
                "SELECT count(*) FROM measurements WHERE value = 12 AND module_id = $1",
                module_id,
            )
        )
        publisher.publish(f"{module_id}/temperature", json.dumps({"value": 13, "time": stamp}))
        publisher.publish(f"{module_id}/humidity", "50")
        await publisher.drain()
        await wait_until(
            lambda: db_count(
                url,
                "SELECT count(*) FROM measurements WHERE value = 13 AND module_id = $1",
                module_id,
            )
        )
    rows = await _rows(
        url,
        "SELECT value FROM measurements WHERE module_id = $1 AND sensor_type = 'temperature'",
        module_id,
    )
    assert [r["value"] for r in rows] == [13]
