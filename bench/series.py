"""History of a 1 Hz sensor (86,400 readings a day) through the REST API (issue 14).

`module-01` has one sensor read every second for a week; nine other modules write four sensors
every 10 s into the same table at the same times (their rows interleave with module-01's, as
in a real deployment). The rollup job has run over the whole week, then the newest hour of every
series is queued again, as live ingest keeps it between two runs of the job (so history reads it
raw). A `sensorhub serve` subprocess answers; each request is timed REPEATS
times after one warm-up: min / median / max wall time, and the sensorhub process's CPU time per
request (from /proc, through psutil), with the response size.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import psutil

from bench.common import DATABASE_SERVER_URL, Table, create_database, drop_database, sensorhub
from bench.drain import postgres_cpu
from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.rollup import refresh_rollup
from sensorhub.db.urls import database_name

REPEATS = 15

LOAD = """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT t, m, s, hw, round((20 + 5 * sin(extract(epoch FROM t) / 3600.0) + random())::numeric, 2)
FROM generate_series(date_trunc('minute', now()) - $1::interval, now(), interval '1 second') t
CROSS JOIN LATERAL (
    SELECT 'module-01', 'temperature', 'dht22'
    UNION ALL
    SELECT 'module-' || lpad(i::text, 2, '0'), s, 'default'
    FROM generate_series(2, $2) i, unnest(ARRAY['temperature', 'humidity', 'co2', 'pm25']) s
    WHERE extract(second FROM t)::int % 10 = 0
) AS x(m, s, hw)
ORDER BY t
"""
QUEUE = """
INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
SELECT DISTINCT date_trunc('minute', time, 'UTC'), module_id, sensor_type FROM measurements
WHERE time >= $1
"""
MODULES = """
INSERT INTO device_system_status (module_id, name, last_seen)
SELECT 'module-' || lpad(i::text, 2, '0'), NULL, now() FROM generate_series(1, $1) i
"""

REQUESTS = [
    ("/api/modules/module-01/series?days=1", "chart: ≤ 20 ms median, ≤ 100 KB per series"),
    ("/api/modules/module-01/series?days=1&points=2000", "chart, 2,000 buckets"),
    ("/api/modules/module-01/series?days=1&raw=true&limit=100000", "raw 86,400: ≤ 80 ms"),
    ("/api/modules/module-01/history?days=1", "seed shape, raw 86,400: ≤ 80 ms"),
    ("/api/modules/module-01/series?days=7", "chart over 7 days (604,800 readings)"),
    ("/api/modules/module-01/history?days=7", "seed shape, hourly over 7 days"),
]


def _time(http: httpx.Client, pid: int, database: str, path: str, repeats: int) -> dict[str, Any]:
    http.get(path).raise_for_status()  # warm
    process = psutil.Process(pid)
    cpu = process.cpu_times()
    postgres = postgres_cpu(database)
    samples = []
    size = 0
    points = 0
    for _ in range(repeats):
        started = time.perf_counter()
        response = http.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        size = len(response.content)
    after = process.cpu_times()
    cpu_ms = (after.user + after.system - cpu.user - cpu.system) * 1000 / repeats
    postgres_ms = (postgres_cpu(database) - postgres) * 1000 / repeats
    body = response.json()
    series = body.get("series", body)
    for value in series.values():
        points += len(value["t"]) if isinstance(value, dict) else len(value)
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "max": max(samples),
        "bytes": size,
        "points": points,
        "cpu": cpu_ms,
        "postgres": postgres_ms,
    }


def _unaligned(newest: datetime) -> tuple[str, str]:
    """A day from second 7 of a minute: aligned on that, buckets cannot use the minute rollup."""
    start = newest.replace(second=7, microsecond=0) - timedelta(days=1)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    path = (
        f"/api/modules/module-01/series?from={start.astimezone(UTC).strftime(stamp)}"
        f"&to={(start + timedelta(days=1)).astimezone(UTC).strftime(stamp)}"
    )
    return path, "chart from an unaligned `from` (raw readings)"


async def run(quick: bool = False) -> list[Table]:
    span = timedelta(hours=2) if quick else timedelta(days=7)
    modules = 3 if quick else 10
    load_before = os.getloadavg()[0]
    url = await create_database("bench_series", server_url=DATABASE_SERVER_URL)
    try:
        await migrate(Settings(), url)
        connection = await asyncpg.connect(url, command_timeout=3600)
        try:
            await connection.execute(LOAD, span, modules)
            await connection.execute(MODULES, modules)
            await connection.execute(QUEUE, datetime.min.replace(tzinfo=UTC))
            await refresh_rollup(connection)
            newest = await connection.fetchval("SELECT max(time) FROM measurements")
            await connection.execute(QUEUE, newest.replace(minute=0, second=0, microsecond=0))
            await connection.execute("VACUUM ANALYZE")
            rows = await connection.fetchval("SELECT count(*) FROM measurements")
            own = await connection.fetchval(
                "SELECT count(*) FROM measurements WHERE module_id = 'module-01'"
            )
        finally:
            await connection.close()
        with (
            sensorhub(url, "bench-series-nothing/#", METRICS_SAMPLE_INTERVAL="3600") as hub,
            httpx.Client(base_url=hub.base_url, timeout=120) as http,
        ):
            pid = hub.process.pid
            database = database_name(url)
            requests = [*REQUESTS, _unaligned(newest)]
            results = [
                (path, goal, _time(http, pid, database, path, REPEATS)) for path, goal in requests
            ]
            load_after = os.getloadavg()[0]
    finally:
        await drop_database(url, server_url=DATABASE_SERVER_URL)
    table = Table(
        title=f"History of a 1 Hz sensor: {own:,} readings of module-01 among {rows:,} rows",
        goal="chart resolution ≤ 20 ms median and ≤ 100 KB per series; raw 86,400 points ≤ 80 ms",
        command="python -m bench series",
        columns=[
            "request",
            "goal",
            "min ms",
            "median ms",
            "max ms",
            "sensorhub CPU ms",
            "PostgreSQL CPU ms",
            "points",
            "bytes",
        ],
    )
    for path, goal, r in results:
        table.rows.append(
            [f"`GET {path}`", goal, f"{r['min']:.1f}", f"{r['median']:.1f}", f"{r['max']:.1f}",
             f"{r['cpu']:.1f}", f"{r['postgres']:.1f}", f"{r['points']:,}", f"{r['bytes']:,}"]
        )  # fmt: skip
    table.notes.append(
        f"{REPEATS} requests each after one warm-up, HTTP from the benchmark process; plain "
        "PostgreSQL; sensorhub as a subprocess on the same 2 cores. CPU per request from /proc: "
        "the sensorhub process, and the PostgreSQL backends of the benchmark's database. Wall "
        "times include PostgreSQL's work and depend on the machine's load: 1-minute load average "
        f"{load_before:.1f} before the run, {load_after:.1f} after it."
    )
    return [table]
