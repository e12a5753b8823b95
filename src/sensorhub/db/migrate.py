"""Apply and revert the Alembic migrations, then the storage layout that depends on settings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from sensorhub.config import Settings
from sensorhub.db.timescale import configure_storage
from sensorhub.db.urls import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

logger = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["sqlalchemy_url"] = sqlalchemy_url(database_url)
    return config


def upgrade_schema(database_url: str, revision: str = "head") -> None:
    """Run Alembic up to `revision` (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade_schema(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def migrate(settings: Settings, database_url: str) -> bool:
    """Bring the database to the current schema and storage policies.

    Returns:
        Whether TimescaleDB is in use.
    """
    await asyncio.to_thread(upgrade_schema, database_url)
    timescale = await configure_storage(database_url, settings)
    logger.info(
        "database schema up to date (storage: %s)",
        "timescaledb" if timescale else "plain postgresql",
    )
    return timescale
