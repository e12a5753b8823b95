"""`/api/modules/{id}/series`: chart resolution over the whole range, raw readings paged (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.support import RunningApp

START = datetime(2026, 11, 1, tzinfo=UTC)


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
    assert few["bucketSeconds"] == 12343  # ceil(86400 / 7)
    assert all(len(s["t"]) <= 7 for s in few["series"].values())
    assert sum(few["series"]["dht22:temperature"]["count"]) == 8640

    default = await app.http.get(f"/api/modules/{module_id}/series", params=_range())
    assert len(default.json()["series"]["dht22:temperature"]["t"]) <= 500


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
