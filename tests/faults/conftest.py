"""Fixtures for the fault tests: a Mosquitto broker of the test's own, that it may restart.

The shared broker (`broker_url`) queues at most 1,000 messages for a client that does not
acknowledge (Mosquitto's default `max_queued_messages`), and the embedded amqtt broker gives up on
a PUBACK after 5 s: tests that hold acknowledgements back, flood the broker or restart it run their
own Mosquitto, with persistence and a deep queue.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.helpers import Mosquitto


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A Mosquitto of this test's own (skipped when the binary is not installed)."""
    if shutil.which("mosquitto") is None:
        pytest.skip("needs the `mosquitto` binary on PATH")
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    broker = Mosquitto(directory)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
