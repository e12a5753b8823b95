"""Periodic background jobs that run on one instance at a time.

A PostgreSQL advisory lock named after the job decides which instance runs it: the instance that
takes it keeps it (on one pooled connection) and runs the job every period; the others skip and try
again each period, so several sensorhub instances on one database do the work once per period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from sensorhub.db.locks import advisory_key

logger = logging.getLogger(__name__)

JobBody = Callable[[asyncpg.Connection], Awaitable[None]]


class PeriodicJob:
    """Runs `body` every `interval` seconds (first run after `first_delay`)."""

    def __init__(
        self,
        name: str,
        interval: float,
        body: JobBody,
        pool: asyncpg.Pool,
        *,
        first_delay: float = 0.0,
    ) -> None:
        self.name = name
        self.interval = interval
        self._body = body
        self._pool = pool
        self._first_delay = first_delay
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"job-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("background job %s failed: %s", self.name, error)
            await asyncio.sleep(self.interval)

    async def _lead(self) -> None:
        """While this instance holds the job's lock, run the body every `interval` seconds.

        The lock stays on one pooled connection for as long as this instance runs the job; the
        others try again every `interval` and take over when it stops or its connection breaks.
        Releasing the lock after each run would let an instance whose timer fires a moment later
        run the job a second time in the same period.
        """
        async with self._pool.acquire() as connection:
            key = advisory_key(self.name)
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", key):
                return
            try:
                while True:
                    await self._body(connection)
                    self.runs += 1
                    await asyncio.sleep(self.interval)
            finally:
                with contextlib.suppress(Exception):
                    await connection.execute("SELECT pg_advisory_unlock($1)", key)
