"""`python -m bench.rollup_micro`: PostgreSQL CPU of the batch writes and of one rollup job run.

Two scenarios on a database of the benchmark's own, 100 modules × 8 sensors:

- `late`: an hour already holding `--rows` readings (rolled up, queue empty), then 30 s of a
  `--rate` msg/s stream written in 100-row batches at minute 55, then one `refresh_rollup` run:
  the job's cost late in an hour, which must not grow with the rows already in the hour;
- `drain`: the 200,000 messages of `python -m bench drain` (half device times) written in
  `--batch`-row batches, then one job run.

CPU is the PostgreSQL backend's own (`/proc/<pid>/schedstat`, ns on CPU), so other processes on
the machine do not count; min / median / max over `--runs` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.common import create_database, drop_database
from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.rollup import refresh_rollup
from sensorhub.db.writes import write_batch
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import Measurement

MODULES, SENSORS = 100, 8
HOUR = datetime(2026, 11, 1, 10, tzinfo=UTC)

FILL = """
INSERT INTO measurements (time, module_id, sensor_type, hardware_id, value)
SELECT $1::timestamptz + make_interval(secs => i * $2::float8),
       'roll-' || lpad((i % 100)::text, 3, '0'), 's' || ((i / 100) % 8) || '/temperature',
       'default', i % 97
FROM generate_series(0, $3 - 1) i
"""
FILL_ROLLUPS = """
INSERT INTO measurements_minute_rollup (module_id, sensor_type, bucket, hardware_id, sum, count,
                                        min, max)
SELECT module_id, sensor_type, date_trunc('minute', time, 'UTC'), hardware_id,
       sum(value), count(*), min(value), max(value)
FROM measurements GROUP BY 1, 2, 3, 4;
INSERT INTO measurements_hourly_rollup (bucket, module_id, sensor_type, sum, count, min, max)
SELECT date_trunc('hour', time, 'UTC'), module_id, sensor_type,
       sum(value), count(*), min(value), max(value)
FROM measurements GROUP BY 1, 2, 3
"""
VACUUM = "VACUUM ANALYZE measurements, measurements_minute_rollup, measurements_hourly_rollup"


def cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def batches_of(readings: Iterable[Measurement], size: int) -> list[Batch]:
    """`readings` in batches of `size` distinct keys (the last one may be smaller)."""
    batches = [Batch()]
    for reading in readings:
        if batches[-1].measurement_count == size:
            batches.append(Batch())
        batches[-1].add_measurement(reading)
    return [batch for batch in batches if batch.measurement_count]


def stream_batches(first: datetime, rate: int, seconds: int, size: int) -> list[Batch]:
    readings = (
        Measurement(
            first + timedelta(seconds=n / rate),
            f"roll-{n % MODULES:03d}",
            f"s{(n // MODULES) % SENSORS}/temperature",
            "default",
            float(n % 89),
        )
        for n in range(rate * seconds)
    )
    return batches_of(readings, size)


def drain_batches(total: int, size: int) -> list[Batch]:
    """The drain's readings: odd ones at their receive time (now), even ones 2 h ago + n ms."""
    base = datetime.now(UTC) - timedelta(hours=2)
    received = datetime.now(UTC)
    readings = (
        Measurement(
            received + timedelta(microseconds=n * 25)
            if n % 2
            else base + timedelta(milliseconds=n),
            f"drain-{n % MODULES:03d}",
            f"s{(n // MODULES) % SENSORS}/temperature",
            "default",
            float(n % 80),
        )
        for n in range(total)
    )
    return batches_of(readings, size)


async def timed_writes(connection: asyncpg.Connection, batches: list[Batch]) -> float:
    pid = connection.get_server_pid()
    start = cpu_ns(pid)
    for batch in batches:
        await write_batch(connection, batch, client_id="rollup-micro")
    return (cpu_ns(pid) - start) / 1e9


async def timed_job(connection: asyncpg.Connection) -> tuple[float, float]:
    pid = connection.get_server_pid()
    start, wall = cpu_ns(pid), time.perf_counter()
    await refresh_rollup(connection)
    return (cpu_ns(pid) - start) / 1e9, time.perf_counter() - wall


async def one_run(scenario: str, rows: int, rate: int, batch: int) -> dict[str, float]:
    url = await create_database("rollupmicro")
    try:
        await migrate(Settings(), url)
        connection = await asyncpg.connect(url)
        try:
            if scenario == "late":
                await connection.execute(FILL, HOUR, 3300 / rows, rows)
                await connection.execute(FILL_ROLLUPS)
                await connection.execute(VACUUM)
                batches = stream_batches(HOUR + timedelta(minutes=55), rate, 30, 100)
            else:
                batches = drain_batches(200_000, batch)
            written = sum(len(b.measurements) for b in batches)
            write_cpu = await timed_writes(connection, batches)
            job_cpu, job_wall = await timed_job(connection)
        finally:
            await connection.close()
    finally:
        await drop_database(url)
    return {
        "write_us": write_cpu / written * 1e6,
        "job_us": job_cpu / written * 1e6,
        "job_ms": job_cpu * 1e3,
        "job_wall_ms": job_wall * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["late", "drain"])
    parser.add_argument("--rows", type=int, default=1_000_000, help="late: readings in the hour")
    parser.add_argument("--rate", type=int, default=2_000, help="late: msg/s of the stream")
    parser.add_argument("--batch", type=int, default=5_000, help="drain: rows per batch")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [
        asyncio.run(one_run(args.scenario, args.rows, args.rate, args.batch))
        for _ in range(args.runs)
    ]
    for key, unit in [
        ("write_us", "PG CPU µs per written row, writes"),
        ("job_us", "PG CPU µs per written row, job"),
        ("job_ms", "PG CPU ms of the job run"),
        ("job_wall_ms", "wall ms of the job run"),
    ]:
        values = sorted(r[key] for r in results)
        print(f"{unit}: {values[0]:.2f} / {statistics.median(values):.2f} / {values[-1]:.2f}")


if __name__ == "__main__":
    main()
