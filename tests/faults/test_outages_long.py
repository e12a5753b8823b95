"""Longer outages during a steady QoS 1 stream: the database gone for 30 s, the broker restarted.

Each test prints what it published, what was stored and the process's resident memory before and
after (run pytest with `-s` to see it); only counts are asserted, never timings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from sensorhub.plugins.embedded import EmbeddedPostgres
from tests.faults.helpers import (
    Mosquitto,
    SteadyStream,
    metric,
    rss_mib,
)
from tests.support import (
    Publisher,
    count_reaches,
    db_count,
    instance_env,
    publish_stream,
    running_app,
    wait_until,
    world_traversable_dir,
)

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 30.0
RATE = 200.0
COUNT = "SELECT count(*) FROM measurements"
DISTINCT = "SELECT count(DISTINCT value) FROM measurements"


async def test_database_down_for_30_seconds_during_a_steady_stream(
    tmp_path: Path, broker_url: str, module_id: str
) -> None:
    with world_traversable_dir("sensorhub-outage30-") as pg_dir:
        pg = EmbeddedPostgres(pg_dir)
        database_url = await pg.start()
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
                stream = SteadyStream(publisher, f"{module_id}/seq", RATE).start()
                await wait_until(count_reaches(database_url, COUNT, 500), what="500 stored")
                rss_before = rss_mib()

                await pg.stop()
                await wait_until(
                    lambda: metric(running, "sensorhub_measurements_spooled_total") > 0
                )
                await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a synchronisation
                spooled = metric(running, "sensorhub_measurements_spooled_total")
                spool_peak = metric(running, "sensorhub_spool_bytes")
                rss_during = rss_mib()

                pg = EmbeddedPostgres(pg_dir)
                await pg.start()
                await wait_until(
                    lambda: metric(running, "sensorhub_measurements_replayed_total") >= spooled,
                    timeout=60,
                    what="the spool replayed",
                )
                await asyncio.sleep(2.0)  # a little more stream after the outage
                published = await stream.stop()
                await publisher.drain()
                await wait_until(
                    count_reaches(database_url, COUNT, published),
                    timeout=60,
                    what=f"all {published} readings",
                )
                stored = await db_count(database_url, COUNT)
                distinct = await db_count(database_url, DISTINCT)
                rss_after = rss_mib()
                print(
                    f"\n[db down {OUTAGE_SECONDS:.0f} s] published={published} stored={stored} "
                    f"distinct={distinct} spooled={spooled:.0f} spool_peak={spool_peak / 1024:.0f}KiB "
                    f"RSS before={rss_before:.1f}MiB during={rss_during:.1f}MiB "
                    f"after={rss_after:.1f}MiB"
                )
                assert stored == distinct == published
                await wait_until(lambda: metric(running, "sensorhub_spool_bytes") == 0)
                assert (await running.http.get("/ready")).status_code == 200
        finally:
            await pg.stop()


async def test_broker_restarted_with_persistence_during_a_stream_loses_nothing(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    """The broker holds a backlog for sensorhub when it restarts; sensorhub reconnects alone.

    A lock on `measurements` stalls sensorhub's writes, so it acknowledges nothing: most of the
    first burst is still queued at the broker (persisted: sensorhub's session never expires)
    when the broker stops.
    """
    topic = f"{module_id}/seq"
    async with running_app(
        **instance_env(
            database_url,
            mosquitto.url,
            module_id,
            tmp_path / "data",
            MQTT_PROTOCOL="5",
            MQTT_RECEIVE_MAXIMUM="50",
        )
    ) as running:
        mqtt = running.runtime.mqtt
        assert mqtt is not None
        rss_before = rss_mib()
        locker = await asyncpg.connect(database_url)
        try:
            lock = locker.transaction()
            await lock.start()
            await locker.execute("LOCK TABLE measurements IN ACCESS EXCLUSIVE MODE")
            async with Publisher(mosquitto.url, f"pub1-{module_id}") as publisher:
                sent = await publish_stream(publisher, topic, 0, 2000, rate=20_000)
                await publisher.drain()
            await wait_until(lambda: metric(running, "sensorhub_messages_received_total") > 0)
            received_at_stop = metric(running, "sensorhub_messages_received_total")

            await mosquitto.stop()
            await wait_until(lambda: not mqtt.connected, what="the disconnection")
            await lock.rollback()
        finally:
            await locker.close()
        await mosquitto.start()
        await mqtt.wait_connected(timeout=30)

        async with Publisher(mosquitto.url, f"pub2-{module_id}") as publisher:
            sent = await publish_stream(publisher, topic, sent, 500, rate=5_000)
            await publisher.drain()
        await wait_until(
            count_reaches(database_url, COUNT, sent), timeout=60, what=f"all {sent} readings"
        )
        stored = await db_count(database_url, COUNT)
        distinct = await db_count(database_url, DISTINCT)
        print(
            f"\n[broker restart] published={sent} "
            f"received_by_sensorhub_before_the_restart={received_at_stop:.0f} "
            f"stored={stored} distinct={distinct} "
            f"RSS before={rss_before:.1f}MiB after={rss_mib():.1f}MiB"
        )
        assert received_at_stop < 1500, "no backlog at the broker when it stopped"
        assert stored == distinct == sent
