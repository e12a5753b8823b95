"""Conversions between the one PostgreSQL URL in Settings and what each driver wants."""

from __future__ import annotations


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy URL (asyncpg driver) for a plain `postgresql://` URL."""
    _, _, rest = database_url.partition("://")
    return f"postgresql+asyncpg://{rest}"


def with_database(database_url: str, database: str) -> str:
    """The same server URL pointing at another database name."""
    scheme, _, rest = database_url.partition("://")
    authority, _slash, path = rest.partition("/")
    _, question, query = path.partition("?")
    return f"{scheme}://{authority}/{database}{question}{query}"
