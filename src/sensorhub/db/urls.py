"""Conversions between the one PostgreSQL URL in Settings and what each driver wants.

SQLAlchemy's `make_url` parses and renders every URL here (query parameters such as the embedded
server's `?host=/socket/dir&port=…` included), so no URL is split by hand.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy URL (asyncpg driver) for a plain `postgresql://` URL."""
    url = make_url(database_url).set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


def with_database(database_url: str, database: str) -> str:
    """The same server URL pointing at another database name."""
    return make_url(database_url).set(database=database).render_as_string(hide_password=False)


def database_name(database_url: str) -> str:
    """The database a URL points at (`postgres` when it names none, as libpq assumes)."""
    return make_url(database_url).database or "postgres"


def redact_database_url(database_url: str) -> str:
    """The URL with its password replaced by `***`, for logs."""
    return make_url(database_url).render_as_string(hide_password=True)
