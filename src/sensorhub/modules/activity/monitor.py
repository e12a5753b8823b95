"""Backend events for the activity log that no request causes: outages, rejections, modules.

The ingest path only counts (`RejectionTally.note`, a dict increment); the `ActivityMonitor` task
turns what changed into activity entries every `interval` seconds:

- `database.outage` / `database.recovered` and `broker.disconnected` / `broker.connected` when the
  buffer's or the MQTT connection's state flips (an entry made while the database is down is kept,
  at its own time, and written once it is back: at most `MAX_PENDING` entries wait);
- `message.rejected`: one entry per module and reason per `summary_every` seconds, with the count
  and a sample topic (a flood of bad messages is one line a minute, not one per message);
- `module.connected` / `module.silent` when a module enters or leaves its online window (the rule
  `GET /api/modules` uses), checked every `summary_every` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sensorhub.errors import DATABASE_UNAVAILABLE
from sensorhub.modules.activity import Event, record
from sensorhub.modules.devices.repository import MODULES_ONLINE

logger = logging.getLogger(__name__)

MAX_PENDING = 1_000


class RejectionTally:
    """Rejected messages per (module id, reason) since the last `drain`; cheap per message."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._samples: dict[tuple[str, str], str] = {}

    def note(self, topic: str, reason: str) -> None:
        key = (topic.split("/", 1)[0], reason)
        self._counts[key] += 1
        if key not in self._samples:
            self._samples[key] = topic

    def drain(self) -> list[tuple[str, str, int, str]]:
        """`(module_id, reason, count, sample topic)` for each key noted, then forget them."""
        drained = [(m, r, n, self._samples[(m, r)]) for (m, r), n in self._counts.items()]
        self._counts.clear()
        self._samples.clear()
        return drained


@dataclass
class Entry:
    event: Event
    message: str
    level: str = "info"
    module_id: str | None = None
    details: dict[str, Any] | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


class ActivityMonitor:
    """Watches states and tallies, and writes what changed to the activity log."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        tally: RejectionTally,
        *,
        database_available: Callable[[], bool],
        broker_connected: Callable[[], bool],
        interval: float = 2.0,
        summary_every: float = 60.0,
    ) -> None:
        self._pool = pool
        self._tally = tally
        self._database_available = database_available
        self._broker_connected = broker_connected
        self._interval = interval
        self._summary_every = summary_every
        self._pending: list[Entry] = []
        self._database = True
        self._broker: bool | None = None
        self._online: dict[str, bool] | None = None
        self._down_since: datetime | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._loop(), name="activity-monitor")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.write_pending()  # what happened last (a broker disconnect at shutdown)

    async def _loop(self) -> None:
        next_summary = time.monotonic() + self._summary_every
        while True:
            await asyncio.sleep(self._interval)
            self.check_states()
            if time.monotonic() >= next_summary:
                next_summary = time.monotonic() + self._summary_every
                self.summarize_rejections()
                await self.check_modules()
            await self.write_pending()

    def check_states(self) -> None:
        """Entries for a database or broker state that flipped since the last check."""
        available = self._database_available()
        if available != self._database:
            self._database = available
            if available:
                since = self._down_since
                self._add(Entry(Event.DATABASE_RECOVERED, "database writes work again",
                                details={"downSince": since}))  # fmt: skip
            else:
                self._down_since = datetime.now(UTC)
                self._add(Entry(Event.DATABASE_OUTAGE,
                                "database unavailable: batches go to the local spool",
                                level="error"))  # fmt: skip
        connected = self._broker_connected()
        if connected != self._broker:
            first = self._broker is None
            self._broker = connected
            if connected:
                self._add(Entry(Event.BROKER_CONNECTED, "connected to the MQTT broker"))
            elif not first:
                self._add(Entry(Event.BROKER_DISCONNECTED, "disconnected from the MQTT broker",
                                level="warn"))  # fmt: skip

    def summarize_rejections(self) -> None:
        for module_id, reason, count, topic in self._tally.drain():
            self._add(Entry(
                Event.MESSAGE_REJECTED,
                f"{count} message(s) from {module_id} rejected: {reason}",
                level="warn",
                module_id=module_id,
                details={"reason": reason, "count": count, "topic": topic},
            ))  # fmt: skip

    async def check_modules(self) -> None:
        """`module.connected` / `module.silent` for modules whose online state changed."""
        try:
            rows = await self._pool.fetch(MODULES_ONLINE)
        except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError):
            return
        online = {row["module_id"]: bool(row["online"]) for row in rows}
        previous, self._online = self._online, online
        if previous is None:
            return  # the first look only sets the baseline
        for module_id, now_online in online.items():
            if previous.get(module_id, False) == now_online:
                continue
            if now_online:
                self._add(Entry(Event.MODULE_CONNECTED, f"module {module_id} is online",
                                module_id=module_id))  # fmt: skip
            else:
                self._add(Entry(Event.MODULE_SILENT, f"module {module_id} went silent",
                                level="warn", module_id=module_id))  # fmt: skip

    async def write_pending(self) -> None:
        """Write waiting entries in order; keep them (bounded) while the database refuses."""
        while self._pending:
            entry = self._pending[0]
            written = await record(
                self._pool, entry.event, entry.message, level=entry.level,
                module_id=entry.module_id, details=entry.details, time=entry.time,
            )  # fmt: skip
            if not written:
                return
            self._pending.pop(0)

    def _add(self, entry: Entry) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0)
        self._pending.append(entry)
