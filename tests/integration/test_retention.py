"""Retention for every growing table: each rule configurable, run by the periodic job, visible
in /api/storage (issue 17)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.retention import storage_jobs
from sensorhub.db.storage_stats import storage_report
from sensorhub.modules.system.schemas import StorageReport
from tests.support import RunningApp

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)

SETTINGS = Settings(
    retain_for="90d",
    device_logs_retain_for="7d",
    system_metrics_retain_for="30d",
    activity_log_retain_for="60d",
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(SETTINGS, database_url)
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def _run_retention_job(db: asyncpg.Connection, settings: Settings = SETTINGS) -> None:
    jobs = {name: body for name, _, body in storage_jobs(settings, timescale=False)}
    await jobs["retention"](db)


async def _metric_rows(db: asyncpg.Connection, *ages: timedelta) -> None:
    await db.executemany(
        "INSERT INTO system_metrics (time, db_size_bytes, measurement_count, module_count, "
        "ingest_rate) VALUES ($1, 1, 1, 1, 0)",
        [(NOW - age,) for age in ages],
    )


async def test_system_metrics_are_kept_for_their_own_duration(db: asyncpg.Connection) -> None:
    await _metric_rows(db, 31 * DAY, 40 * DAY, 29 * DAY, timedelta(0))
    await _run_retention_job(db)
    kept = [r["time"] for r in await db.fetch("SELECT time FROM system_metrics ORDER BY time")]
    assert kept == [NOW - 29 * DAY, NOW]


async def test_device_logs_follow_their_setting_else_retain_for(db: asyncpg.Connection) -> None:
    await db.executemany(
        "INSERT INTO device_logs (time, module_id, level, message) VALUES ($1, 'm1', 'info', $2)",
        [(NOW - 8 * DAY, "8 days"), (NOW - 6 * DAY, "6 days"), (NOW - 100 * DAY, "100 days")],
    )
    await _run_retention_job(db)
    assert [r["message"] for r in await db.fetch("SELECT message FROM device_logs")] == ["6 days"]

    # Unset: device logs live as long as measurements (RETAIN_FOR).
    await db.execute(
        "INSERT INTO device_logs (time, module_id, level, message) VALUES ($1, 'm1', 'info', 'x')",
        NOW - 50 * DAY,
    )
    await _run_retention_job(db, Settings(retain_for="90d"))
    assert await db.fetchval("SELECT count(*) FROM device_logs") == 2


async def test_activity_log_is_trimmed(db: asyncpg.Connection) -> None:
    await db.executemany(
        "INSERT INTO activity_log (time, level, category, event, source, message) "
        "VALUES ($1, 'info', 'SYSTEM', 'test', 'test', $2)",
        [(NOW - 61 * DAY, "old"), (NOW - 59 * DAY, "recent")],
    )
    await _run_retention_job(db)
    assert [r["message"] for r in await db.fetch("SELECT message FROM activity_log")] == ["recent"]


async def test_retention_is_in_the_storage_report(db: asyncpg.Connection) -> None:
    await _metric_rows(db, 2 * DAY)
    report = await storage_report(db, timescale=False, settings=SETTINGS)
    StorageReport.model_validate(report)
    rules = {r["table"]: r for r in report["retention"]}
    assert {name: r["keep_for_seconds"] / 86400 for name, r in rules.items()} == {
        "measurements": 90,
        "device_logs": 7,
        "system_metrics": 30,
        "activity_log": 60,
    }
    assert rules["system_metrics"]["oldest"] == NOW - 2 * DAY
    assert rules["activity_log"]["exists"] is True
    assert rules["measurements"]["applied_by"] == "retention job"


def test_retention_settings_parse_durations_and_refuse_nonsense() -> None:
    settings = Settings(system_metrics_retain_for="12h", device_logs_retain_for="")
    assert settings.system_metrics_retain_for == timedelta(hours=12)
    assert settings.device_logs_retain_for is None
    with pytest.raises(ValueError, match="positive"):
        Settings(activity_log_retain_for="0s")


async def test_api_storage_lists_retention(app: RunningApp) -> None:
    response = await app.http.get("/api/storage")
    assert response.status_code == 200
    tables = [r["table"] for r in response.json()["retention"]]
    assert tables == ["measurements", "device_logs", "system_metrics", "activity_log"]
