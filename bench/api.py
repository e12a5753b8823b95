"""REST API timings over 30 days of data for 10 modules × 10 sensors at one reading per 10 s.

The data set (about 26M rows) is generated inside PostgreSQL, the storage maintenance a real
deployment would have done is applied (rollup or compression), then a `sensorhub serve`
subprocess answers HTTP requests; each figure is the median of repeated requests. Runs on plain
PostgreSQL and, when `BENCH_TIMESCALE_URL` points at a server with TimescaleDB, on TimescaleDB.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from bench.common import DATABASE_SERVER_URL, Table, create_database, drop_database, sensorhub
from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.rollup import refresh_rollup

TIMESCALE_SERVER_URL = os.environ.get("BENCH_TIMESCALE_URL")
SENSORS = (
    "temperature", "humidity", "pressure", "co2", "pm1", "pm25", "pm4", "pm10", "tvoc", "eco2",
)  # fmt: skip
REPEATS = 15

LOAD = """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT t, 'module-' || lpad(m::text, 2, '0'), s, 'default',
       round((20 + 5 * sin(extract(epoch FROM t) / 3600.0 + m) + random())::numeric, 2)::float8
FROM generate_series(date_trunc('minute', now()) - $1::interval, now(), $2::interval) AS t,
     generate_series(1, $3) AS m, unnest($4::text[]) AS s
"""
MODULES = """
INSERT INTO device_system_status (module_id, name, module_type, last_seen)
SELECT 'module-' || lpad(m::text, 2, '0'), 'module-' || lpad(m::text, 2, '0'), 'air', now()
FROM generate_series(1, $1) AS m
"""
MARK_ALL_DIRTY = """
INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
SELECT DISTINCT date_trunc('minute', time, 'UTC'), module_id, sensor_type FROM measurements
"""


async def _prepare(
    server_url: str, timescale: bool, days: int, modules: int, step: timedelta
) -> tuple[str, dict[str, Any]]:
    url = await create_database(f"bench_api_{'ts' if timescale else 'pg'}", server_url=server_url)
    settings = Settings()
    assert await migrate(settings, url) == timescale, "TimescaleDB not available on that server"
    connection = await asyncpg.connect(url, command_timeout=3600)
    facts: dict[str, Any] = {}
    try:
        if timescale:
            await connection.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                " WHERE hypertable_schema = 'public'"
            )
        started = time.perf_counter()
        await connection.execute(LOAD, timedelta(days=days), step, modules, list(SENSORS))
        await connection.execute(MODULES, modules)
        facts["load_s"] = time.perf_counter() - started
        started = time.perf_counter()
        if timescale:
            await connection.execute(
                "SELECT compress_chunk(c, if_not_compressed => true)"
                " FROM show_chunks('measurements', older_than => now() - $1::interval) AS c",
                settings.compress_after,
            )
            await connection.execute(
                "CALL refresh_continuous_aggregate('measurements_hourly', NULL, NULL)"
            )
        else:
            await connection.execute(MARK_ALL_DIRTY)
            while await refresh_rollup(connection):
                pass
        facts["maintenance_s"] = time.perf_counter() - started
        await connection.execute("VACUUM ANALYZE")
        facts["rows"] = await connection.fetchval("SELECT count(*) FROM measurements")
        size_sql = (
            "SELECT hypertable_size('measurements')"
            if timescale
            else "SELECT pg_total_relation_size('measurements')"
        )
        facts["bytes"] = await connection.fetchval(size_sql)
        if timescale:
            before, after = await connection.fetchrow(
                "SELECT before_compression_total_bytes, after_compression_total_bytes"
                " FROM hypertable_compression_stats('measurements')"
            )
            facts["compression_saved"] = f"{100 * (1 - after / before):.1f}%" if before else "-"
    finally:
        await connection.close()
    return url, facts


def _median_ms(http: httpx.Client, path: str) -> tuple[float, int]:
    http.get(path).raise_for_status()  # warm
    samples = []
    size = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = http.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        size = len(response.content)
    return statistics.median(samples), size


REQUESTS = [
    ("/api/modules", "≤ 20 ms"),
    ("/api/modules/module-01/history?days=1", "≤ 100 ms (raw points)"),
    ("/api/modules/module-01/history?days=7", "(1-minute averages)"),
    ("/api/modules/module-01/history?days=30", "≤ 50 ms (hourly)"),
    ("/api/modules/module-01/status", ""),
]


async def run(quick: bool = False) -> list[Table]:
    days, modules, step = (2, 2, timedelta(minutes=1)) if quick else (30, 10, timedelta(seconds=10))
    paths = [("PostgreSQL", DATABASE_SERVER_URL, False)]
    if TIMESCALE_SERVER_URL:
        paths.append(("TimescaleDB", TIMESCALE_SERVER_URL, True))
    timings = Table(
        title=f"REST API over {days} days × {modules} modules × {len(SENSORS)} sensors, one reading per {step.total_seconds():.0f} s",
        goal="/api/modules ≤ 20 ms; history?days=1 (raw) ≤ 100 ms; history?days=30 ≤ 50 ms (medians)",
        command="python -m bench api  (BENCH_TIMESCALE_URL=postgresql://…:5433/postgres adds TimescaleDB)",
        columns=[
            "request",
            "goal",
            *(f"{name} median ms" for name, _, _ in paths),
            "response bytes",
        ],
    )
    storage = Table(
        title="Storage of the same data set",
        goal="bytes per reading after compression (the seed claims about 90% saved by compression)",
        command="python -m bench api",
        columns=[
            "path",
            "readings",
            "table + indexes",
            "bytes per reading",
            "compression saved",
            "load s",
            "rollup/compress s",
        ],
    )
    results: dict[str, dict[str, tuple[float, int]]] = {}
    for name, server_url, timescale in paths:
        url, facts = await _prepare(server_url, timescale, days, modules, step)
        try:
            with (
                sensorhub(url, "bench-api-nothing/#", METRICS_SAMPLE_INTERVAL="3600") as hub,
                httpx.Client(base_url=hub.base_url, timeout=120) as http,
            ):
                results[name] = {path: _median_ms(http, path) for path, _ in REQUESTS}
        finally:
            await drop_database(url, server_url=server_url)
        storage.rows.append(
            [
                name,
                f"{facts['rows']:,}",
                f"{facts['bytes'] / 2**20:,.0f} MiB",
                f"{facts['bytes'] / facts['rows']:.1f}",
                facts.get("compression_saved", "no compression"),
                f"{facts['load_s']:.0f}",
                f"{facts['maintenance_s']:.0f}",
            ]
        )
    for path, goal in REQUESTS:
        size = next(iter(results.values()))[path][1]
        timings.rows.append(
            [f"`GET {path}`", goal, *(f"{results[n][path][0]:.1f}" for n, _, _ in paths), size]
        )
    timings.notes.append(
        "Through HTTP from a client in the benchmark process; sensorhub as a subprocess."
    )
    return [timings, storage]
