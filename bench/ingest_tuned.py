"""The ingest ramp again, against a Mosquitto configured as docs/deployment.md recommends.

Mosquitto's default `max_queued_messages 1000` drops what a subscriber has not taken once 1,000
messages wait for it; with the recommended queue size the broker holds a burst while sensorhub
spools and catches up. This benchmark starts its own Mosquitto on a free loopback port with
deploy/mosquitto.conf's limits (no persistence, to keep it quick) and runs the same measurement.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bench import ingest
from bench.common import Table
from tests.faults.helpers import Mosquitto

MAX_QUEUED = 1_000_000


@contextlib.asynccontextmanager
async def tuned_mosquitto() -> AsyncIterator[str]:
    """A Mosquitto of its own with deploy/mosquitto.conf's queue and in-flight limits."""
    with tempfile.TemporaryDirectory(prefix="bench-mosquitto-") as directory:
        broker = Mosquitto(Path(directory), persistence=False, max_inflight_messages=20)
        await broker.start()
        try:
            yield broker.url
        finally:
            await broker.stop()


async def run(quick: bool = False) -> list[Table]:
    if shutil.which("mosquitto") is None:
        return []
    duration = 3.0 if quick else 20.0
    rates = [1_000.0] if quick else [10_000.0, 15_000.0, 20_000.0, 25_000.0, 40_000.0]
    table = Table(
        title=f"Ingest with the broker configured as recommended (max_queued_messages {MAX_QUEUED:,})",
        goal="nothing lost at any offered rate: what the database cannot take at once is spooled and caught up",
        command="python -m bench ingest_tuned",
        columns=[*ingest.COLUMNS, "stored msg/s while publishing"],
    )
    async with tuned_mosquitto() as url:
        for rate in rates:
            result, _ = await ingest.measure(rate, duration, settle=20.0, broker_url=url)
            table.rows.append(
                [
                    *result.row(),
                    f"{result.stored_while_publishing / result.publish_seconds:,.0f}",
                ]
            )
    table.notes.append(
        "`drain after end` is how long the database took to catch up from the spool after the last "
        "message was published; `lost` counts readings the broker acknowledged to the generator that "
        "are not in the table once the count stops growing."
    )
    return [table]
