"""Migrations on a fresh real PostgreSQL database: the docs/contract.md §7 schema up, nothing left down."""

import asyncio

import asyncpg

from sensorhub.config import Settings
from sensorhub.db.migrate import downgrade_schema, migrate
from sensorhub.db.timescale import TIME_LED_KEY

SPEC_TABLES = {
    "device_system_status",
    "device_hardware",
    "sensor_status",
    "sensor_config",
    "measurements",
    "system_metrics",
    "device_logs",
}


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    return {row["table_name"] for row in rows}


async def test_upgrade_creates_the_spec_schema_and_downgrade_removes_it(database_url: str) -> None:
    await migrate(Settings(), database_url)
    assert await _tables(database_url) >= SPEC_TABLES

    connection = await asyncpg.connect(database_url)
    try:
        columns = await connection.fetch(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'measurements' ORDER BY ordinal_position"
        )
        primary_key = await connection.fetch(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1]) "
            "WHERE i.indrelid = 'measurements'::regclass AND i.indisprimary"
        )
        indexes = await connection.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'measurements'"
        )
        mode = await connection.fetchval(
            "SELECT value FROM sensorhub_meta WHERE key = 'timescaledb'"
        )
    finally:
        await connection.close()
    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("time", "timestamp with time zone"),
        ("module_id", "text"),
        ("sensor_type", "text"),
        ("hardware_id", "text"),
        ("value", "double precision"),
    ]
    assert all(c["is_nullable"] == "NO" for c in columns)
    assert {r["attname"] for r in primary_key} == {
        "time",
        "module_id",
        "sensor_type",
        "hardware_id",
    }
    # One btree led by the series, answering history index-only; BRIN for time windows (0010_p).
    assert sorted(r["indexdef"].split(" USING ")[1] for r in indexes) == [
        "brin (\"time\") WITH (autosummarize='on')",
        'btree (module_id, sensor_type, "time", hardware_id) INCLUDE (value)',
    ]
    assert mode is not None

    await asyncio.to_thread(downgrade_schema, database_url, "base")
    assert await _tables(database_url) <= {"alembic_version"}


async def test_migrate_is_re_runnable(database_url: str) -> None:
    await migrate(Settings(), database_url)
    await migrate(Settings(), database_url)
    assert await _tables(database_url) >= SPEC_TABLES


async def test_a_table_about_to_become_a_hypertable_gets_its_time_led_key_back(
    database_url: str,
) -> None:
    """`configure_timescaledb` runs TIME_LED_KEY before `create_hypertable` (migration 0010_p is
    plain PostgreSQL only); checked here on plain PostgreSQL, with rows kept."""
    await migrate(Settings(), database_url)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO measurements VALUES (now(), 'm1', 't', '', 1.0), (now(), 'm2', 't', '', 2.0)"
        )
        await connection.execute(TIME_LED_KEY)
        indexes = await connection.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'measurements'"
        )
        rows = await connection.fetchval("SELECT count(*) FROM measurements")
    finally:
        await connection.close()
    assert sorted(r["indexdef"].split(" USING ")[1] for r in indexes) == [
        'btree ("time", module_id, sensor_type, hardware_id)',
        'btree (module_id, sensor_type, "time") INCLUDE (value, hardware_id)',
    ]
    assert rows == 2
