"""Faults during a steady QoS 1 stream: the database stops, sensorhub is SIGKILLed. Nothing is lost."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from sensorhub.plugins.embedded import EmbeddedPostgres, free_port
from tests.faults.helpers import Mosquitto, metric
from tests.support import (
    Publisher,
    count_reaches,
    db_count,
    instance_env,
    is_ready,
    publish_stream,
    running_app,
    serve_process,
    wait_until,
    world_traversable_dir,
)

pytestmark = pytest.mark.slow


async def test_database_stopped_mid_stream_then_restarted_loses_nothing(
    tmp_path: Path, broker_url: str, module_id: str
) -> None:
    with world_traversable_dir("sensorhub-outage-") as pg_dir:
        await _outage_scenario(pg_dir, tmp_path, broker_url, module_id)


async def _outage_scenario(pg_dir: Path, tmp_path: Path, broker_url: str, module_id: str) -> None:
    pg = EmbeddedPostgres(pg_dir)
    database_url = await pg.start()
    total = 0
    try:
        async with (
            running_app(
                **instance_env(
                    database_url,
                    broker_url,
                    module_id,
                    tmp_path / "data",
                )
            ) as running,
            Publisher(broker_url, f"pub-{module_id}") as publisher,
        ):
            await publish_stream(publisher, f"{module_id}/seq", 0, 500, rate=1000)
            await publisher.drain()
            await wait_until(
                count_reaches(database_url, "SELECT count(*) FROM measurements", 500),
                what="first 500",
            )

            await pg.stop()
            await publish_stream(publisher, f"{module_id}/seq", 500, 1500, rate=1000)
            await publisher.drain()
            await wait_until(
                lambda: metric(running, "sensorhub_measurements_spooled_total") > 0, what="spooling"
            )
            assert not running.runtime.buffer.database_available  # type: ignore[union-attr]

            pg = EmbeddedPostgres(pg_dir)
            await pg.start()
            await publish_stream(publisher, f"{module_id}/seq", 2000, 500, rate=1000)
            await publisher.drain()
            total = 2500
            await wait_until(
                count_reaches(database_url, "SELECT count(*) FROM measurements", total),
                timeout=60,
                what=f"all {total} readings after the outage",
            )
            assert metric(running, "sensorhub_measurements_replayed_total") > 0
            distinct = await db_count(
                database_url, "SELECT count(DISTINCT value) FROM measurements"
            )
            assert distinct == total
            assert (await running.http.get("/ready")).status_code == 200
    finally:
        await pg.stop()


async def test_sigkill_mid_stream_loses_no_acknowledged_reading(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    """Against a Mosquitto of the test's own (persistent sessions, a deep queue), so that it also
    runs without SENSORHUB_TEST_MQTT_URL (amqtt gives up on unacknowledged messages)."""
    broker_url = mosquitto.url
    port = free_port()
    env = instance_env(
        database_url,
        broker_url,
        module_id,
        tmp_path / "data",
        MQTT_PROTOCOL="5",
        PORT=str(port),
        BUFFER_MAX_AGE="0.5",
        LOG_LEVEL="WARNING",
    )
    log = tmp_path / "serve.log"
    server = serve_process(env, log)
    try:
        await wait_until(lambda: is_ready(f"http://127.0.0.1:{port}"), timeout=60, what="ready")
        async with Publisher(broker_url, f"pub-{module_id}") as publisher:
            stream = asyncio.create_task(
                publish_stream(publisher, f"{module_id}/seq", 0, 800, rate=1000)
            )
            await wait_until(
                count_reaches(database_url, "SELECT count(*) FROM measurements", 200),
                what="some stored",
            )
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            await stream
            await publish_stream(
                publisher, f"{module_id}/seq", 800, 150, rate=1000
            )  # while it is down
            await publisher.drain()

            server = serve_process(env, log)
            await wait_until(
                count_reaches(database_url, "SELECT count(*) FROM measurements", 950),
                timeout=90,
                what="all 950 readings after the restart",
            )
        assert await db_count(database_url, "SELECT count(*) FROM measurements") == 950
        distinct = await db_count(database_url, "SELECT count(DISTINCT value) FROM measurements")
        assert distinct == 950
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
