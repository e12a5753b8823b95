"""The database connection: an asyncpg pool, opened and closed as an async context manager."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

import asyncpg

logger = logging.getLogger(__name__)


class Database:
    """Connection pools to the one PostgreSQL database sensorhub uses."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database plugin not started")
        return self._pool

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self._pool_size, command_timeout=60
        )

    async def stop(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    async def is_ready(self, timeout: float = 2.0) -> bool:
        if self._pool is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._pool.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True
