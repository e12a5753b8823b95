"""TimescaleDB storage on a real server with the extension (skipped when there is none).

Set `SENSORHUB_TEST_TIMESCALE_URL` to a server URL (as for `SENSORHUB_TEST_DATABASE_URL`) whose
PostgreSQL has TimescaleDB installed and preloaded; each test gets its own fresh database.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.migrate import downgrade_schema, migrate, upgrade_schema
from sensorhub.db.retention import apply_retention
from sensorhub.db.rollup import refresh_rollup
from sensorhub.db.storage_stats import storage_report
from sensorhub.db.urls import with_database
from sensorhub.db.writes import write_batch
from sensorhub.ingest.messages import LogEntry
from tests.integration.test_storage import DIRECT, HOURLY, assert_same_aggregates, batch_of, rows

pytestmark = pytest.mark.timescaledb

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

POLICIES = """
SELECT hypertable_name, proc_name, config::text AS config
FROM timescaledb_information.jobs
WHERE hypertable_schema = 'public' ORDER BY hypertable_name, proc_name
"""


@pytest.fixture(scope="session")
async def timescale_server_url() -> str:
    url = os.environ.get("SENSORHUB_TEST_TIMESCALE_URL")
    if not url:
        pytest.skip(
            "TimescaleDB tests need SENSORHUB_TEST_TIMESCALE_URL (a server with the extension)"
        )
    try:
        connection = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"TimescaleDB server at SENSORHUB_TEST_TIMESCALE_URL unreachable: {error}")
    try:
        available = await connection.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        preload = await connection.fetchval("SELECT current_setting('shared_preload_libraries')")
    finally:
        await connection.close()
    if not available or "timescaledb" not in preload:
        pytest.skip(
            "the SENSORHUB_TEST_TIMESCALE_URL server has no preloaded TimescaleDB extension"
        )
    return url


@pytest.fixture
async def timescale_url(timescale_server_url: str) -> AsyncIterator[str]:
    """A fresh database with the extension created, dropped afterwards."""
    name = f"ts_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(timescale_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(timescale_server_url, name)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    finally:
        await connection.close()
    yield url
    admin = await asyncpg.connect(timescale_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def ts(timescale_url: str) -> AsyncIterator[asyncpg.Connection]:
    assert await migrate(Settings(), timescale_url)
    connection = await asyncpg.connect(timescale_url)
    try:
        # Policies stay defined but the background scheduler leaves this test's data alone.
        await connection.execute(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
            "WHERE hypertable_schema = 'public'"
        )
        yield connection
    finally:
        await connection.close()


async def policies(connection: asyncpg.Connection) -> list[tuple[object, ...]]:
    return rows(await connection.fetch(POLICIES))


async def test_layout_and_policies_follow_settings(timescale_url: str) -> None:
    assert await migrate(Settings(compress_after="7d", retain_for="90d"), timescale_url)
    connection = await asyncpg.connect(timescale_url)
    try:
        assert await connection.fetchval(
            "SELECT value FROM sensorhub_meta WHERE key = 'timescaledb'"
        ) == await connection.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        )
        dimension = await connection.fetchrow(
            "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'measurements'"
        )
        assert tuple(dimension) == ("time", timedelta(days=1))
        segmentby = await connection.fetch(
            "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc "
            "FROM timescaledb_information.compression_settings "
            "WHERE hypertable_name = 'measurements' ORDER BY attname"
        )
        assert rows(segmentby) == [
            ("module_id", 1, None, None),
            ("sensor_type", 2, None, None),
            ("time", None, 1, False),
        ]
        assert not await connection.fetchval(
            "SELECT materialized_only FROM timescaledb_information.continuous_aggregates "
            "WHERE view_name = 'measurements_hourly'"
        )
        assert await connection.fetchval(
            "SELECT to_regclass('measurements_hourly_rollup') IS NULL "
            "AND to_regclass('measurements_rollup_dirty') IS NOT NULL"
        )
        first = await policies(connection)
        assert first == [
            (
                "measurements",
                "policy_compression",
                '{"hypertable_id": 1, "compress_after": "7 days"}',
            ),
            ("measurements", "policy_retention", '{"drop_after": "90 days", "hypertable_id": 1}'),
            *[p for p in first if p[0] == "measurements_hourly"],
        ]
        hourly = {p[1]: p[2] for p in first if p[0] == "measurements_hourly"}
        assert '"start_offset": "90 days"' in str(hourly["policy_refresh_continuous_aggregate"])
        assert '"drop_after": "90 days"' in str(hourly["policy_retention"])
        job_ids = await connection.fetch("SELECT job_id FROM timescaledb_information.jobs")

        await migrate(Settings(compress_after="7d", retain_for="90d"), timescale_url)
        assert await policies(connection) == first
        assert await connection.fetch("SELECT job_id FROM timescaledb_information.jobs") == job_ids

        await migrate(Settings(compress_after="2d", retain_for="30d"), timescale_url)
        changed = {(p[0], p[1]): str(p[2]) for p in await policies(connection)}
        assert len(changed) == 4
        assert '"compress_after": "2 days"' in changed["measurements", "policy_compression"]
        assert '"drop_after": "30 days"' in changed["measurements", "policy_retention"]
        assert '"drop_after": "30 days"' in changed["measurements_hourly", "policy_retention"]
        assert (
            '"start_offset": "30 days"'
            in changed["measurements_hourly", "policy_refresh_continuous_aggregate"]
        )

        await asyncio.to_thread(downgrade_schema, timescale_url, "0001")
        assert await connection.fetchval("SELECT to_regclass('measurements_hourly')") is None
        await asyncio.to_thread(downgrade_schema, timescale_url, "base")
        assert await connection.fetchval("SELECT to_regclass('measurements')") is None
    finally:
        await connection.close()


async def test_continuous_aggregate_equals_a_direct_aggregate(ts: asyncpg.Connection) -> None:
    rng = random.Random(28)
    readings = {
        (T0 - timedelta(seconds=rng.randrange(0, 4 * 86400)), f"m{rng.randrange(3)}", s, "a"): v
        for s, v in ((rng.choice(["temp", "hum"]), rng.uniform(-10, 30)) for _ in range(2000))
    }
    await write_batch(ts, batch_of((*k, v) for k, v in readings.items()), track_rollup=False)
    # Real-time aggregation answers before anything is materialised ...
    assert_same_aggregates(await ts.fetch(HOURLY), await ts.fetch(DIRECT))
    await refresh_rollup(ts)
    materialized = await ts.fetchval(
        "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)"
        " FROM timescaledb_information.continuous_aggregates"
    )
    assert await ts.fetchval(f"SELECT count(*) FROM {materialized}") > 0
    assert_same_aggregates(await ts.fetch(HOURLY), await ts.fetch(DIRECT))
    # ... and late data into a materialised hour shows after the refresh.
    await write_batch(
        ts, batch_of([(T0 - timedelta(days=2), "m0", "temp", "late", 99.0)]), track_rollup=False
    )
    await refresh_rollup(ts)
    assert_same_aggregates(await ts.fetch(HOURLY), await ts.fetch(DIRECT))


async def test_upserts_into_a_compressed_chunk(ts: asyncpg.Connection) -> None:
    old = T0 - timedelta(days=10)
    await write_batch(
        ts,
        batch_of([(old + timedelta(minutes=i), "m1", "temp", "a", float(i)) for i in range(60)]),
        track_rollup=False,
    )
    compressed = await ts.fetchval(
        "SELECT count(compress_chunk(c, if_not_compressed => true))"
        " FROM show_chunks('measurements') AS c"
    )
    assert compressed == 1
    assert await ts.fetchval(
        "SELECT bool_and(is_compressed) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'measurements'"
    )

    # The offline module comes back: one reading repeated with a new value, one new.
    await write_batch(
        ts,
        batch_of([(old, "m1", "temp", "a", 100.0), (old, "m1", "temp", "b", 7.0)]),
        track_rollup=False,
    )
    values = await ts.fetch(
        "SELECT hardware_id, value FROM measurements WHERE time = $1 ORDER BY hardware_id", old
    )
    assert rows(values) == [("a", 100.0), ("b", 7.0)]
    assert await ts.fetchval("SELECT count(*) FROM measurements") == 61
    await refresh_rollup(ts)
    assert_same_aggregates(await ts.fetch(HOURLY), await ts.fetch(DIRECT))

    report = await storage_report(ts, timescale=True)
    assert report["storage"] == "timescaledb"
    assert report["measurements"]["count"] == 61
    details = report["timescaledb"]
    assert details["chunk_count"] == 1
    assert details["compressed_chunk_count"] == 1
    assert details["uncompressed_bytes"] > 0 and details["compressed_bytes"] > 0
    assert details["compression_ratio"] == pytest.approx(
        details["uncompressed_bytes"] / details["compressed_bytes"], rel=0.01
    )
    assert {(p["relation"], p["kind"]) for p in details["policies"]} == {
        ("measurements", "compression"),
        ("measurements", "retention"),
        ("measurements_hourly", "refresh_continuous_aggregate"),
        ("measurements_hourly", "retention"),
    }
    assert [t["name"] for t in report["tables"]][:2] == ["measurements", "measurements_hourly"]
    assert report["tables"][0]["bytes"] == details["hypertable_bytes"]


async def test_retention_trims_logs_and_leaves_measurements_to_the_policy(
    ts: asyncpg.Connection,
) -> None:
    now = datetime.now(UTC)
    await write_batch(
        ts,
        batch_of(
            [(now - timedelta(days=100), "m1", "temp", "a", 1.0)],
            [LogEntry(now - timedelta(days=100), "m1", "info", "old")],
        ),
        track_rollup=False,
    )
    assert await apply_retention(ts, timedelta(days=90), timescale=True) == 0
    assert await ts.fetchval("SELECT count(*) FROM device_logs") == 0
    assert await ts.fetchval("SELECT count(*) FROM measurements") == 1


async def test_existing_plain_database_converts_with_its_data(timescale_url: str) -> None:
    connection = await asyncpg.connect(timescale_url)
    try:
        await connection.execute("DROP EXTENSION timescaledb")
        await asyncio.to_thread(upgrade_schema, timescale_url)
        await write_batch(
            connection,
            batch_of([(T0 + timedelta(minutes=i), "m1", "temp", "a", float(i)) for i in range(90)]),
        )
        await refresh_rollup(connection)
        plain_answer = await connection.fetch(HOURLY)
    finally:
        await connection.close()

    assert await migrate(Settings(), timescale_url)
    connection = await asyncpg.connect(timescale_url)
    try:
        assert await connection.fetchval(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'measurements'"
        )
        assert await connection.fetchval("SELECT to_regclass('measurements_rollup_dirty')")
        assert_same_aggregates(await connection.fetch(HOURLY), plain_answer)
        await connection.execute(
            "DELETE FROM measurements WHERE time < $1", T0 + timedelta(hours=1)
        )
        assert await connection.fetchval("SELECT count(*) FROM measurements") == 30
    finally:
        await connection.close()


async def test_module_list_reports_sensor_types_through_the_aggregate(
    timescale_url: str, broker_url: str, module_id: str, tmp_path: Path
) -> None:
    from tests.support import Publisher, instance_env, running_app, wait_until

    async with running_app(
        **instance_env(
            timescale_url,
            broker_url,
            module_id,
            tmp_path / "data",
        )
    ) as running:
        assert running.runtime.timescale
        async with Publisher(broker_url, f"pub-{module_id}") as publisher:
            publisher.publish(f"{module_id}/dht22/temperature", "21.5")
            publisher.publish(f"{module_id}/co2", "600")
            await publisher.drain()

        async def listed() -> bool:
            modules = (await running.http.get("/api/modules")).json()
            return any(
                m["id"] == module_id and m["sensors"] == ["co2", "temperature"] for m in modules
            )

        await wait_until(listed, what="the module with its two sensor types")


async def test_backfilled_hours_reach_the_aggregate_through_the_rollup_job(
    ts: asyncpg.Connection,
) -> None:
    from sensorhub.db.rollup import rollup_job

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await write_batch(ts, batch_of([(now - timedelta(days=3), "m1", "temp", "a", 1.0)]))
    await refresh_rollup(ts)  # materialised: the aggregate's watermark is now past that hour
    # A module flushes readings it buffered while offline, into that already materialised hour,
    # and a current one; only the old hour is queued.
    back = now - timedelta(days=3) + timedelta(minutes=5)
    await write_batch(
        ts,
        batch_of([(back, "m1", "temp", "a", 3.0), (now, "m1", "temp", "a", 5.0)]),
        backfill_only=True,
    )
    assert await ts.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 1
    await rollup_job(ts)  # what the periodic job runs: no full refresh, only the queued window
    assert await ts.fetchval("SELECT count(*) FROM measurements_rollup_dirty") == 0
    assert_same_aggregates(await ts.fetch(HOURLY), await ts.fetch(DIRECT))
