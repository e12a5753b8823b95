"""Shared fixtures: real PostgreSQL and MQTT broker, from the environment or embedded.

`SENSORHUB_TEST_DATABASE_URL` (a server URL; each test gets its own fresh database) and
`SENSORHUB_TEST_MQTT_URL` point the tests at running services (CI sets them). Without them the
tests start an embedded PostgreSQL and an embedded amqtt broker, so `make test` also passes on a
machine with only Python.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from sensorhub.db.urls import with_database
from sensorhub.plugins.embedded import EmbeddedBroker, EmbeddedPostgres
from tests.support import (
    EMBEDDED_BROKER_URLS,
    RunningApp,
    instance_env,
    running_app,
    world_traversable_dir,
)

pytest_plugins: list[str] = []


@pytest.fixture(scope="session")
async def database_server_url() -> AsyncIterator[str]:
    url = os.environ.get("SENSORHUB_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with world_traversable_dir("sensorhub-test-pg-") as directory:
        embedded = EmbeddedPostgres(directory)
        try:
            yield with_database(await embedded.start(), "postgres")
        finally:
            await embedded.stop()


@pytest.fixture(scope="session")
async def broker_url() -> AsyncIterator[str]:
    url = os.environ.get("SENSORHUB_TEST_MQTT_URL")
    if url:
        yield url
        return
    broker = EmbeddedBroker(port=0)
    url = await broker.start()
    try:
        EMBEDDED_BROKER_URLS.add(url)  # instances served for tests connect to it with 3.1.1
        yield url
    finally:
        EMBEDDED_BROKER_URLS.discard(url)
        await broker.stop()


@pytest.fixture
async def database_url(
    database_server_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = f"t_{_slug(request.node.name)[:30]}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(database_server_url, name)
    admin = await asyncpg.connect(database_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def plain_database_url(database_url: str) -> str:
    """`database_url`, for tests of the plain-PostgreSQL storage path (trigger-kept rollup).

    Skips when the server preloads TimescaleDB: there `migrate` turns `measurements` into a
    hypertable, and what these tests check (the plain rollup table, its locks) does not exist.
    """
    connection = await asyncpg.connect(database_url)
    try:
        available = await connection.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        preload = await connection.fetchval("SELECT current_setting('shared_preload_libraries')")
    finally:
        await connection.close()
    if available and "timescaledb" in preload:
        pytest.skip("needs plain PostgreSQL: this server preloads TimescaleDB")
    return database_url


@pytest.fixture
def module_id(request: pytest.FixtureRequest) -> str:
    """A module id unique to this test, so tests sharing a broker never see each other's data."""
    return f"{_slug(request.node.name)[:24]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app_env(database_url: str, broker_url: str, data_dir: Path, module_id: str) -> dict[str, str]:
    """The environment of this test's sensorhub (`tests.support.instance_env`); a test adds its
    own variables with `running_app(**app_env, NAME=value)`."""
    return instance_env(database_url, broker_url, module_id, data_dir)


@pytest.fixture
async def app(app_env: dict[str, str]) -> AsyncIterator[RunningApp]:
    """sensorhub served by uvicorn on a free port, against the test database and broker.

    It subscribes only to this test's module topics, so parallel tests on one broker don't mix.
    """
    async with running_app(**app_env) as running:
        yield running


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings come from each test's explicit values, never from the developer's environment."""
    for name in (
        "DATABASE_URL",
        "MQTT_URL",
        "SENSORHUB_API_TOKEN",
        "SENSORHUB_READ_TOKEN",
        "CORS_ORIGINS",
        "LIVE_BATCH_INTERVAL",
        "REDIS_URL",
        "HOST",
        "PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no stray .env from the working directory
    yield
