"""The database plugin: an asyncpg pool for raw SQL and a SQLAlchemy engine for typed queries."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sensorhub.db.urls import sqlalchemy_url

logger = logging.getLogger(__name__)


class Database:
    """Connection pools to the one PostgreSQL database sensorhub uses."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._engine: AsyncEngine | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database plugin not started")
        return self._pool

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("database plugin not started")
        return self._engine

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self._pool_size, command_timeout=60
        )
        self._engine = create_async_engine(
            sqlalchemy_url(self.url), pool_size=4, max_overflow=4, pool_pre_ping=True
        )

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
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
