"""`/api/modules/{id}/series`: chart resolution over the whole range, raw readings paged (issue 14)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from sensorhub.db.rollup import refresh_rollup
from sensorhub.modules.devices.history_sql import epoch_micros
from tests.support import RunningApp

START = datetime(2026, 11, 1, tzinfo=UTC)

# What the batch writer does with every batch: queue the touched minutes for the rollup job.
QUEUE_MINUTES = """
INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
SELECT DISTINCT date_trunc('minute', time, 'UTC'), module_id, sensor_type
FROM measurements WHERE module_id = $1
"""


async def _seed(app: RunningApp, module_id: str) -> None:
    """One day at one reading per 10 s from two temperature sensors, and a sparse humidity."""
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        await connection.execute(
            "INSERT INTO device_system_status (module_id, last_seen) VALUES ($1, now())", module_id
        )
        await connection.execute(
            "INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value) "
            "SELECT $2::timestamptz + make_interval(secs => 10 * i), $1, 'temperature', hw, "
            "       i % 100 + CASE hw WHEN 'dht22' THEN 0 ELSE 1000 END "
            "FROM generate_series(0, 8639) i, unnest(ARRAY['dht22', 'sht40']) hw",
            module_id,
            START,
        )
        await connection.execute(
            "INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value) "
            "SELECT $2::timestamptz + make_interval(hours => i), $1, 'humidity', 'default', i "
            "FROM generate_series(0, 23) i",
            module_id,
            START,
        )
        await connection.execute(QUEUE_MINUTES, module_id)
    finally:
        await connection.close()


async def _roll_up(app: RunningApp) -> None:
    """Run the rollup job now (the app's periodic run may be claiming too: both are safe)."""
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        await refresh_rollup(connection)
    finally:
        await connection.close()


def _range(**extra: Any) -> dict[str, Any]:
    return {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", **extra}


async def test_buckets_cover_the_whole_range_per_hardware_id(
    app: RunningApp, module_id: str
) -> None:
    await _seed(app, module_id)
    response = await app.http.get(f"/api/modules/{module_id}/series", params=_range(points=288))
    assert response.status_code == 200, response.text
    body = response.json()
    await _roll_up(app)  # the same answer from the minute rollup as from the queued raw hours
    rolled = await app.http.get(f"/api/modules/{module_id}/series", params=_range(points=288))
    assert rolled.json() == body
    assert body["from"] == "2026-11-01T00:00:00Z" and body["to"] == "2026-11-02T00:00:00Z"
    assert body["bucketSeconds"] == 300 and body["next"] is None
    assert set(body["series"]) == {"dht22:temperature", "sht40:temperature", "humidity"}
    dht22 = body["series"]["dht22:temperature"]
    assert set(dht22) == {"t", "min", "max", "mean", "count"}
    assert len(dht22["t"]) == 288  # the whole day, not the newest tail
    assert dht22["t"][0] == int(START.timestamp() * 1000)
    assert dht22["t"][-1] == int(
        (START + timedelta(hours=24) - timedelta(minutes=5)).timestamp() * 1000
    )
    assert sum(dht22["count"]) == 8640 and set(dht22["count"]) == {30}
    # first bucket: readings 0..29 → values 0..29
    assert (dht22["min"][0], dht22["max"][0], dht22["mean"][0]) == (0, 29, 14.5)
    sht40 = body["series"]["sht40:temperature"]
    assert sht40["min"][0] == 1000  # never averaged with the other sensor of the same type
    humidity = body["series"]["humidity"]
    assert len(humidity["t"]) == 24 and humidity["mean"] == list(range(24))

    few = (await app.http.get(f"/api/modules/{module_id}/series", params=_range(points=7))).json()
    assert few["bucketSeconds"] == 12360  # ceil(86400 / 7) up to whole minutes
    assert all(len(s["t"]) <= 7 for s in few["series"].values())
    assert sum(few["series"]["dht22:temperature"]["count"]) == 8640

    default = await app.http.get(f"/api/modules/{module_id}/series", params=_range())
    assert len(default.json()["series"]["dht22:temperature"]["t"]) <= 500

    # `days` instead of `from`: the range starts on the minute.
    params = {"to": "2026-11-02T00:00:30.5Z", "days": 1, "points": 288}
    by_days = (await app.http.get(f"/api/modules/{module_id}/series", params=params)).json()
    assert by_days["from"] == "2026-11-01T00:00:00Z" and by_days["bucketSeconds"] == 360
    assert by_days["series"]["dht22:temperature"]["t"][0] == int(START.timestamp() * 1000)
    assert sum(by_days["series"]["dht22:temperature"]["count"]) == 8640


async def test_raw_readings_are_paged_with_a_cursor_never_truncated(
    app: RunningApp, module_id: str
) -> None:
    await _seed(app, module_id)
    window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:01:00Z"}
    collected: dict[str, list[tuple[int, float]]] = {}
    cursor = None
    pages = 0
    while True:
        params = {**window, "raw": "true", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = (await app.http.get(f"/api/modules/{module_id}/series", params=params)).json()
        pages += 1
        assert body["bucketSeconds"] is None
        assert sum(len(s["t"]) for s in body["series"].values()) <= 5
        for key, series in body["series"].items():
            assert set(series) == {"t", "v"}
            collected.setdefault(key, []).extend(zip(series["t"], series["v"], strict=True))
        cursor = body["next"]
        if cursor is None:
            break
    # 6 readings per sensor in the minute, plus the humidity at 00:00: 13 readings, 3 pages.
    assert pages == 3
    base = int(START.timestamp() * 1000)
    assert collected["dht22:temperature"] == [(base + 10_000 * i, i) for i in range(6)]
    assert collected["sht40:temperature"] == [(base + 10_000 * i, 1000 + i) for i in range(6)]
    assert collected["humidity"] == [(base, 0)]

    bad = await app.http.get(
        f"/api/modules/{module_id}/series", params={"raw": "true", "cursor": "nope"}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.cursor"
    unknown = await app.http.get("/api/modules/nobody-here/series")
    assert unknown.status_code == 404


async def _raw_readings(app: RunningApp, module_id: str) -> list[asyncpg.Record]:
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        return await connection.fetch(
            "SELECT time, sensor_type, hardware_id, value FROM measurements WHERE module_id = $1",
            module_id,
        )
    finally:
        await connection.close()


def _key(row: asyncpg.Record) -> str:
    sensor, hardware = row["sensor_type"], row["hardware_id"]
    return sensor if hardware == "default" else f"{hardware}:{sensor}"


def _expected_buckets(
    rows: list[asyncpg.Record], start: datetime, end: datetime, origin: datetime, width: int
) -> dict[str, dict[str, list[Any]]]:
    """Buckets computed here from every raw reading: what `/series` must answer."""
    groups: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if start <= row["time"] < end:
            index = int((row["time"] - origin).total_seconds() // width)
            groups[_key(row)][index].append(row["value"])
    expected = {}
    for key, buckets in groups.items():
        order = sorted(buckets)
        expected[key] = {
            "t": [int((origin + timedelta(seconds=i * width)).timestamp() * 1000) for i in order],
            "min": [min(buckets[i]) for i in order],
            "max": [max(buckets[i]) for i in order],
            "count": [len(buckets[i]) for i in order],
        }
    return expected


def _minute_averages(
    rows: list[asyncpg.Record], start: datetime, end: datetime
) -> dict[str, list[tuple[str, float]]]:
    groups: dict[str, dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if start <= row["time"] < end:
            groups[_key(row)][row["time"].replace(second=0, microsecond=0)].append(row["value"])
    return {
        key: [
            (_z(minute), sum(values) / len(values))
            for minute, values in sorted(minutes.items(), reverse=True)
        ]
        for key, minutes in groups.items()
    }


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _check_against_raw(app: RunningApp, module_id: str) -> None:
    """Unaligned ends (partial minutes read raw) over rolled-up and queued hours alike."""
    rows = await _raw_readings(app, module_id)
    end = START + timedelta(hours=6, seconds=13)
    # From a minute: the minute rollup; from second 7: raw readings only. Both aligned on `from`.
    for start in (START + timedelta(hours=1), START + timedelta(hours=1, seconds=7)):
        params = {"from": _z(start), "to": _z(end), "points": 50}
        body = (await app.http.get(f"/api/modules/{module_id}/series", params=params)).json()
        assert body["bucketSeconds"] == 420  # (5 h 13 s) / 50 up to whole minutes
        expected = _expected_buckets(rows, start, end, start, 420)
        columns = ("t", "min", "max", "count")
        got = {key: {c: s[c] for c in columns} for key, s in body["series"].items()}
        assert got == expected

    start, end = START - timedelta(hours=1, seconds=-7), START + timedelta(days=1, seconds=13)
    params = {"from": _z(start), "to": _z(end)}
    history = (await app.http.get(f"/api/modules/{module_id}/history", params=params)).json()
    averages = _minute_averages(rows, start, end)
    assert set(history) == set(averages)
    for key, points in history.items():
        assert [p["time"] for p in points] == [time for time, _ in averages[key]]
        assert [p["value"] for p in points] == [pytest.approx(value) for _, value in averages[key]]


async def test_buckets_and_averages_match_the_raw_readings_before_and_after_the_rollup(
    app: RunningApp, module_id: str
) -> None:
    await _seed(app, module_id)
    await _check_against_raw(app, module_id)  # every minute queued: all raw
    await _roll_up(app)
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        queued = "SELECT count(*) FROM measurements_rollup_dirty WHERE module_id = $1"
        assert await connection.fetchval(queued, module_id) == 0
        minutes = "SELECT count(*) FROM measurements_minute_rollup WHERE module_id = $1"
        assert await connection.fetchval(minutes, module_id) == 2 * 1440 + 24
    finally:
        await connection.close()
    await _check_against_raw(app, module_id)  # rolled up: minutes from the rollup, ends raw

    # Later writes and deletes in rolled-up minutes: queued (as the writer and the delete trigger
    # do), read raw until the job has run, then from the recomputed minutes.
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        await connection.execute(
            "INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value) "
            "SELECT $2::timestamptz + make_interval(secs => 10 * i + 3), $1, 'temperature', "
            "       'bme280', -i FROM generate_series(0, 400) i",
            module_id,
            START + timedelta(hours=2),
        )
        await connection.execute(QUEUE_MINUTES, module_id)
        await connection.execute(
            "DELETE FROM measurements WHERE module_id = $1 AND hardware_id = 'sht40' "
            "AND time >= $2 AND time < $3",
            module_id,
            START + timedelta(hours=3, minutes=30),
            START + timedelta(hours=4, minutes=1),
        )
    finally:
        await connection.close()
    await _check_against_raw(app, module_id)
    await _roll_up(app)
    await _check_against_raw(app, module_id)


async def test_raw_pages_of_one_hardware_id_split_exactly_even_within_a_millisecond(
    app: RunningApp, module_id: str
) -> None:
    """Pages read in index order (one hardware id) and pages ending inside a millisecond."""
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        await connection.execute(
            "INSERT INTO device_system_status (module_id, last_seen) VALUES ($1, now())", module_id
        )
        # 30 readings 1 s apart, then 10 readings 100 µs apart (ten per millisecond).
        await connection.execute(
            "INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value) "
            "SELECT $2::timestamptz + make_interval(secs => CASE WHEN i < 30 THEN i "
            "       ELSE 30 + (i - 30) * 0.0001 END), $1, 'co2', 'scd41', i "
            "FROM generate_series(0, 39) i",
            module_id,
            START,
        )
    finally:
        await connection.close()
    window = {"from": _z(START), "to": _z(START + timedelta(minutes=1))}
    for limit in (1, 3, 7, 30, 31, 35, 40, 41):
        values: list[float] = []
        cursor = None
        while True:
            params = {**window, "raw": "true", "limit": limit}
            if cursor:
                params["cursor"] = cursor
            body = (await app.http.get(f"/api/modules/{module_id}/series", params=params)).json()
            page = body["series"].get("scd41:co2", {"v": []})["v"]
            assert len(page) <= limit
            values.extend(page)
            cursor = body["next"]
            if cursor is None:
                break
        assert values == list(range(40)), limit


async def test_epoch_microseconds_are_exact_in_and_out_of_the_float_range(
    app: RunningApp,
) -> None:
    moments = [
        datetime(1850, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC),
        datetime(1899, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 16, 18, 123_457, tzinfo=UTC),
        datetime(2039, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2040, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2150, 6, 1, 1, 2, 3, 999_999, tzinfo=UTC),
    ]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = [(m - epoch) // timedelta(microseconds=1) for m in moments]
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        sql = f"SELECT array_agg({epoch_micros('t')} ORDER BY n) FROM unnest($1::timestamptz[]) "
        got = await connection.fetchval(sql + "WITH ORDINALITY AS x(t, n)", moments)
    finally:
        await connection.close()
    assert got == expected


async def test_raw_values_read_back_as_the_stored_floats(app: RunningApp, module_id: str) -> None:
    """PostgreSQL's float text (shortest exact) is embedded in the answer as is."""
    values = [
        0.1 + 0.2,
        1e-7,
        1.5e-5,
        1e20,
        123456789012345.6,
        -0.0,
        5e-324,
        1.7976931348623157e308,
    ]
    assert app.settings.database_url is not None
    connection = await asyncpg.connect(app.settings.database_url)
    try:
        await connection.execute(
            "INSERT INTO device_system_status (module_id, last_seen) VALUES ($1, now())", module_id
        )
        await connection.executemany(
            "INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value) "
            "VALUES ($1, $2, 'pressure', 'bmp280', $3)",
            [(START + timedelta(seconds=i), module_id, v) for i, v in enumerate(values)],
        )
    finally:
        await connection.close()
    params = {"from": _z(START), "to": _z(START + timedelta(minutes=1)), "raw": "true"}
    body = (await app.http.get(f"/api/modules/{module_id}/series", params=params)).json()
    series = body["series"]["bmp280:pressure"]
    assert [float(v) for v in series["v"]] == values
    assert series["t"] == [int(START.timestamp() * 1000) + 1000 * i for i in range(len(values))]
