"""Cross-site protection and read access on HTTP (issue 17): foreign Origins, tokens, PNA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from sensorhub.access import token_grants
from sensorhub.cli import bind_warning, check_bind_rule
from sensorhub.config import Settings
from sensorhub.http_guard import origin_allowed
from tests.support import RunningApp, running_app

EVIL = "http://evil.example"
DASHBOARD = "http://dash.example"
WRITE, READ = "write-token-1", "read-token-1"


async def _add_module(database_url: str, module_id: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO device_system_status (module_id, name, last_seen) VALUES ($1, $1, now())",
            module_id,
        )
    finally:
        await connection.close()


async def _module_count(database_url: str, module_id: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM device_system_status WHERE module_id = $1", module_id
            )
        )
    finally:
        await connection.close()


# --- defaults: no token, CORS_ORIGINS empty (same origin only) ---


async def test_a_foreign_page_cannot_delete_a_module(
    app: RunningApp, database_url: str, module_id: str
) -> None:
    await _add_module(database_url, module_id)
    response = await app.http.delete(f"/api/modules/{module_id}", headers={"Origin": EVIL})
    assert response.status_code == 403
    assert "cross-site" in response.json()["error"]
    assert "access-control-allow-origin" not in response.headers
    assert await _module_count(database_url, module_id) == 1

    preflight = await app.http.options(
        f"/api/modules/{module_id}",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-methods" not in preflight.headers

    # Its own page (same origin) and non-browser clients (no Origin) still can.
    own = app.base_url
    response = await app.http.delete(f"/api/modules/{module_id}", headers={"Origin": own})
    assert response.status_code == 200
    await _add_module(database_url, module_id)
    assert (await app.http.delete(f"/api/modules/{module_id}")).status_code == 200


async def test_foreign_reads_get_no_cors_grant_and_private_network_is_refused(
    app: RunningApp,
) -> None:
    response = await app.http.get("/api/modules", headers={"Origin": EVIL})
    assert response.status_code == 200  # no token configured: reads are open...
    assert "access-control-allow-origin" not in response.headers  # ...but not to a foreign page
    preflight = await app.http.options(
        "/api/modules",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 403
    assert "access-control-allow-private-network" not in preflight.headers


# --- tokens and a listed dashboard origin ---


@pytest.fixture
async def guarded(
    database_url: str, broker_url: str, tmp_path: Path, module_id: str
) -> AsyncIterator[RunningApp]:
    async with running_app(
        DATABASE_URL=database_url,
        MQTT_URL=broker_url,
        DATA_DIR=str(tmp_path / "data"),
        MQTT_TOPICS=f"{module_id}/#",
        MQTT_CLIENT_ID=f"sh-{module_id}"[:64],
        SENSORHUB_API_TOKEN=WRITE,
        SENSORHUB_READ_TOKEN=READ,
        CORS_ORIGINS=DASHBOARD,
    ) as running:
        yield running


UNKNOWN_ZONE = "00000000-0000-4000-8000-000000000000"


def _get_paths(app: RunningApp, module_id: str) -> list[str]:
    """Every GET operation the API documents, with this test's module filled in."""
    schema = app.app.api.openapi()["paths"]
    return [
        path.replace("{module_id}", module_id)
        .replace("{module_type}", "air-quality")
        .replace("{zone_id}", UNKNOWN_ZONE)
        for path, ops in schema.items()
        if "get" in ops
    ]


async def test_every_api_get_needs_a_token_when_a_read_token_is_set(
    guarded: RunningApp, database_url: str, module_id: str
) -> None:
    await _add_module(database_url, module_id)
    paths = _get_paths(guarded, module_id)
    api = [p for p in paths if p.startswith("/api")]
    assert len(api) >= 5
    for path in [*api, "/metrics"]:
        assert (await guarded.http.get(path)).status_code == 401, path
        wrong = {"Authorization": "Bearer nope"}
        assert (await guarded.http.get(path, headers=wrong)).status_code == 401, path
        for token in (READ, WRITE):
            response = await guarded.http.get(path, headers={"Authorization": f"Bearer {token}"})
            expected = 404 if UNKNOWN_ZONE in path else 200  # past the token check either way
            assert response.status_code == expected, (path, response.text)
    for path in ("/health", "/ready"):
        assert (await guarded.http.get(path)).status_code == 200


async def test_the_read_token_cannot_write_and_a_token_does_not_excuse_a_foreign_origin(
    guarded: RunningApp, database_url: str, module_id: str
) -> None:
    await _add_module(database_url, module_id)
    path = f"/api/modules/{module_id}"
    response = await guarded.http.delete(path, headers={"Authorization": f"Bearer {READ}"})
    assert response.status_code == 401
    response = await guarded.http.delete(
        path, headers={"Authorization": f"Bearer {WRITE}", "Origin": EVIL}
    )
    assert response.status_code == 403
    assert await _module_count(database_url, module_id) == 1
    response = await guarded.http.delete(
        path, headers={"Authorization": f"Bearer {WRITE}", "Origin": DASHBOARD}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == DASHBOARD


async def test_a_listed_origin_gets_cors_and_private_network_access(guarded: RunningApp) -> None:
    preflight = await guarded.http.options(
        "/api/modules",
        headers={
            "Origin": DASHBOARD,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD
    assert preflight.headers["access-control-allow-private-network"] == "true"
    allowed = preflight.headers["access-control-allow-methods"]
    assert "DELETE" in allowed and "TRACE" not in allowed and "*" not in allowed


# --- the rules themselves ---


def test_token_grants() -> None:
    open_ = Settings()
    assert token_grants(open_, None, write=False) and token_grants(open_, None, write=True)
    writes_only = Settings(sensorhub_api_token=WRITE)
    assert token_grants(writes_only, None, write=False)
    assert not token_grants(writes_only, None, write=True)
    assert token_grants(writes_only, WRITE, write=True)
    both = Settings(sensorhub_api_token=WRITE, sensorhub_read_token=READ)
    assert not token_grants(both, None, write=False)
    assert not token_grants(both, "x", write=False)
    assert token_grants(both, READ, write=False) and token_grants(both, WRITE, write=False)
    assert not token_grants(both, READ, write=True)


def test_origin_rule() -> None:
    settings = Settings(cors_origins=DASHBOARD)
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", settings)
    assert origin_allowed(DASHBOARD, "127.0.0.1:8000", settings)
    assert not origin_allowed(EVIL, "127.0.0.1:8000", settings)
    assert not origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8000", settings)
    assert not origin_allowed("null", "127.0.0.1:8000", settings)
    # Behind a proxy that sends `Host` without the port and the browser's host in X-Forwarded-Host.
    assert origin_allowed("http://localhost:8000", "localhost,localhost:8000", settings)
    assert not origin_allowed(EVIL, "localhost,localhost:8000", settings)
    assert Settings().cors_origins == []


def test_bind_rules_for_reads() -> None:
    refusal = check_bind_rule(Settings(host="0.0.0.0", sensorhub_read_token=READ))
    assert refusal is not None  # reads protected, but writes would be anonymous
    assert check_bind_rule(Settings(host="0.0.0.0", sensorhub_api_token=WRITE)) is None
    warning = bind_warning(Settings(host="0.0.0.0", sensorhub_api_token=WRITE))
    assert warning is not None and "SENSORHUB_READ_TOKEN" in warning
    assert bind_warning(Settings(host="0.0.0.0", sensorhub_read_token=READ)) is None
    assert bind_warning(Settings()) is None
