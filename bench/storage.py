"""Storage: bytes per stored reading and history query timings, plain PostgreSQL vs TimescaleDB.

The same synthetic fleet is loaded on each path (smooth signals with noise, one reading per sensor
per minute). Plain: the hourly rollup is caught up; TimescaleDB: chunks older than COMPRESS_AFTER
are compressed and the continuous aggregate refreshed, as the policies would. The TimescaleDB path
runs only when BENCH_TIMESCALE_URL names a server with the extension.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta
from typing import Any

import asyncpg

from bench.common import DATABASE_SERVER_URL, Table, create_database, drop_database, machine
from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.rollup import refresh_rollup

TIMESCALE_SERVER_URL = os.environ.get("BENCH_TIMESCALE_URL")
SENSORS = ("temperature", "humidity", "pressure", "co2")
RANGES = (1, 7, 30)
REPEATS = 15

LOAD = """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT t, 'module-' || m, s, 'hw-0',
       round((20 + 5 * sin(extract(epoch FROM t) / 3600.0 + m) + random())::numeric, 2)::float8
FROM generate_series(now() - $1::interval, now(), interval '1 minute') AS t,
     generate_series(1, $2) AS m, unnest($3::text[]) AS s
"""

MARK_ALL_DIRTY = """
INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
SELECT DISTINCT date_trunc('minute', time, 'UTC'), module_id, sensor_type FROM measurements
"""

HOURLY_HISTORY = """
SELECT bucket, avg, min, max FROM measurements_hourly
WHERE module_id = 'module-1' AND sensor_type = 'temperature' AND bucket >= now() - $1::interval
ORDER BY bucket
"""

RAW_HISTORY = """
SELECT date_trunc('hour', time, 'UTC') AS bucket, avg(value), min(value), max(value)
FROM measurements
WHERE module_id = 'module-1' AND sensor_type = 'temperature' AND time >= now() - $1::interval
GROUP BY 1 ORDER BY 1
"""


async def _timed(connection: asyncpg.Connection, sql: str, *args: Any) -> float:
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        await connection.fetch(sql, *args)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def _measure(server_url: str, timescale: bool, days: int, modules: int) -> dict[str, Any]:
    url = await create_database("bench_storage", server_url=server_url, timescale=timescale)
    settings = Settings()
    try:
        assert await migrate(settings, url) == timescale
        connection = await asyncpg.connect(url)
        try:
            if timescale:
                await connection.execute(
                    "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                    " WHERE hypertable_schema = 'public'"
                )
            started = time.perf_counter()
            await connection.execute(LOAD, timedelta(days=days), modules, list(SENSORS))
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            if timescale:
                await connection.execute(
                    "SELECT compress_chunk(c, if_not_compressed => true)"
                    " FROM show_chunks('measurements', older_than => now() - $1::interval) AS c",
                    settings.compress_after,
                )
            else:
                await connection.execute(MARK_ALL_DIRTY)
            await refresh_rollup(connection)
            maintain_s = time.perf_counter() - started
            await connection.execute("VACUUM ANALYZE")
            rows = await connection.fetchval("SELECT count(*) FROM measurements")
            size_sql = (
                "SELECT hypertable_size('measurements')"
                if timescale
                else "SELECT pg_total_relation_size('measurements')"
            )
            size = await connection.fetchval(size_sql)
            saved = None
            if timescale:
                before, after = await connection.fetchrow(
                    "SELECT before_compression_total_bytes, after_compression_total_bytes"
                    " FROM hypertable_compression_stats('measurements')"
                )
                saved = round(100 * (1 - after / before), 1) if before else None
            timings = {
                (kind, d): await _timed(connection, sql, timedelta(days=d))
                for d in RANGES
                if d <= days
                for kind, sql in (("hourly", HOURLY_HISTORY), ("raw", RAW_HISTORY))
            }
        finally:
            await connection.close()
    finally:
        await drop_database(url, server_url=server_url)
    return {
        "rows": rows,
        "bytes": size,
        "load_s": load_s,
        "maintain_s": maintain_s,
        "saved": saved,
        "timings": timings,
    }


async def run(quick: bool) -> list[Table]:
    days, modules = (10, 4) if quick else (30, 25)
    paths = [("PostgreSQL", DATABASE_SERVER_URL, False)]
    if TIMESCALE_SERVER_URL:
        paths.append(("TimescaleDB", TIMESCALE_SERVER_URL, True))
    results = {name: await _measure(url, ts, days, modules) for name, url, ts in paths}
    bytes_table = Table(
        title="Storage per reading",
        goal="Bytes per stored reading on each path (the seed claims ~90% saved by compression)",
        command="python -m bench storage",
        columns=[
            "path",
            "readings",
            "table bytes",
            "bytes/reading",
            "compressed chunks saved %",
            "load s",
            "rollup/compress s",
        ],
        notes=[
            f"{modules} modules x {len(SENSORS)} sensors, 1 reading/min for {days} days; "
            f"bytes include indexes; TimescaleDB compresses chunks older than 7 days. {machine()}",
        ],
    )
    for name, r in results.items():
        bytes_table.rows.append(
            [
                name,
                r["rows"],
                r["bytes"],
                round(r["bytes"] / r["rows"], 1),
                "n/a" if r["saved"] is None else r["saved"],
                round(r["load_s"], 1),
                round(r["maintain_s"], 1),
            ]
        )
    query_table = Table(
        title="History query timings",
        goal="One sensor's hourly history over 1, 7 and 30 days (median ms of 15 runs)",
        command="python -m bench storage",
        columns=["path", "days", "measurements_hourly ms", "raw aggregate ms"],
    )
    for name, r in results.items():
        for d in RANGES:
            if ("hourly", d) in r["timings"]:
                query_table.rows.append(
                    [
                        name,
                        d,
                        round(r["timings"]["hourly", d], 2),
                        round(r["timings"]["raw", d], 2),
                    ]
                )
    return [bytes_table, query_table]
