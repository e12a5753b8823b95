"""The activity log hears of what no request causes: outages, rejections, modules going silent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.modules.activity.monitor import ActivityMonitor, RejectionTally


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(Settings(), database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _events(pool: asyncpg.Pool) -> list[tuple[str, str | None, str]]:
    rows = await pool.fetch("SELECT event, module_id, message FROM activity_log ORDER BY id")
    return [(r["event"], r["module_id"], r["message"]) for r in rows]


async def test_outages_rejections_and_silent_modules_become_entries(pool: asyncpg.Pool) -> None:
    state = {"database": True, "broker": True}
    tally = RejectionTally()
    monitor = ActivityMonitor(
        pool,
        tally,
        database_available=lambda: state["database"],
        broker_connected=lambda: state["broker"],
    )
    monitor.check_states()  # the baseline: connected, nothing to say
    await monitor.write_pending()
    assert await _events(pool) == [("broker.connected", None, "connected to the MQTT broker")]

    state["database"] = False
    monitor.check_states()
    state["database"] = True
    state["broker"] = False
    monitor.check_states()
    for _ in range(3):
        tally.note("gh-9/temperature", "out_of_range")
    tally.note("gh-9/system", "unreadable rssi (unit_suffix): stored value kept")
    monitor.summarize_rejections()
    await monitor.write_pending()
    events = await _events(pool)
    assert [e[0] for e in events[1:]] == [
        "database.outage",
        "database.recovered",
        "broker.disconnected",
        "message.rejected",
        "message.rejected",
    ]
    assert events[4] == (
        "message.rejected",
        "gh-9",
        "3 message(s) from gh-9 rejected: out_of_range",
    )
    assert tally.drain() == []  # a summary empties the tally

    await pool.execute(
        "INSERT INTO device_system_status (module_id, name, last_seen) "
        "VALUES ('gh-8', 'gh-8', now())"
    )
    await monitor.check_modules()  # baseline: gh-8 online
    await pool.execute(
        "UPDATE device_system_status SET last_seen = now() - interval '1 day' "
        "WHERE module_id = 'gh-8'"
    )
    await monitor.check_modules()
    await pool.execute("UPDATE device_system_status SET last_seen = now() WHERE module_id = 'gh-8'")
    await monitor.check_modules()
    await monitor.write_pending()
    assert [e[:2] for e in (await _events(pool))[-2:]] == [
        ("module.silent", "gh-8"),
        ("module.connected", "gh-8"),
    ]


async def test_entries_wait_while_the_database_refuses_them(pool: asyncpg.Pool) -> None:
    monitor = ActivityMonitor(
        pool, RejectionTally(), database_available=lambda: False, broker_connected=lambda: True
    )
    await pool.execute("ALTER TABLE activity_log RENAME TO activity_log_away")
    monitor.check_states()
    await monitor.write_pending()  # refused: kept
    await pool.execute("ALTER TABLE activity_log_away RENAME TO activity_log")
    await monitor.write_pending()
    assert [e[0] for e in await _events(pool)] == ["database.outage", "broker.connected"]
