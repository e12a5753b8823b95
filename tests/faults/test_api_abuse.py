"""API abuse: schemathesis over the OpenAPI schema, writes without the token, path traversal and
SQL metacharacters in module ids, oversized and lying request bodies.

Complements tests/integration/test_api.py, which already checks JSON errors, 413 on an oversized
config (declared and chunked), 401 on writes with a missing, wrong or malformed token, and runs
hypothesis over every GET's parameters; this file attacks through the published schema instead,
and through raw HTTP that no client library would normalise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.support import (
    Publisher,
    RunningApp,
    count_reaches,
    db_count,
    instance_env,
    running_app,
    wait_until,
)

pytestmark = pytest.mark.slow

EXAMPLES = 15
TABLES = (
    "measurements",
    "device_system_status",
    "device_hardware",
    "sensor_status",
    "sensor_config",
    "device_logs",
    "system_metrics",
)


def fuzz(
    base_url: str,
    raw_schema: dict[str, Any],
    *,
    module_id: str | None = None,
    methods: set[str] | None = None,
    headers: dict[str, str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> tuple[Counter[str], list[str]]:
    """Run schemathesis' generated requests (valid and invalid ones) against a live server.

    Returns the count of responses per `METHOD path status` and a description of each 5xx.
    """
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_dict(raw_schema)
    statuses: Counter[str] = Counter()
    failures: list[str] = []

    def runner(session: requests.Session, label: str, strategy: Any, mode: str) -> Any:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            try:
                response = case.call(
                    base_url=base_url, session=session, headers=headers, timeout=30
                )
            except (requests.exceptions.InvalidHeader, ValueError, UnicodeError):
                return  # the client itself refuses to send this request
            statuses[f"{label} {response.status_code}"] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{mode} {response.status_code} {case.as_curl_command()}\n"
                    f"  -> {response.text[:300]}"
                )

        return run

    with requests.Session() as session:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            if methods is not None and operation.method.upper() not in methods:
                continue
            label = f"{operation.method.upper()} {operation.path}"
            if label in skip:
                continue
            fixed = None
            if module_id is not None and "{module_id}" in operation.path:
                fixed = {"module_id": module_id}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
                # Unsatisfiable: nothing to make invalid (an operation without parameters)
                with contextlib.suppress(Unsatisfiable):
                    runner(session, label, strategy, mode.value)()
    return statuses, failures


async def _announce(broker_url: str, module_id: str, database_url: str) -> None:
    async with Publisher(broker_url, f"hello-{module_id}") as publisher:
        publisher.publish(f"{module_id}/system", json.dumps({"rssi": -50}))
        publisher.publish(f"{module_id}/temperature", "21.5")
        await publisher.drain()
    await wait_until(
        count_reaches(
            database_url, f"SELECT count(*) FROM measurements WHERE module_id = '{module_id}'", 1
        ),
        what=f"{module_id} known",
    )


async def _clear_retained(broker_url: str, *module_ids: str) -> None:
    async with Publisher(broker_url, f"clean-{uuid.uuid4().hex[:8]}") as publisher:
        for module_id in module_ids:
            publisher.publish(f"{module_id}/sensors/config", b"", retain=True)
        await publisher.drain()


async def _tables_intact(database_url: str) -> None:
    for table in TABLES:
        found = await db_count(
            database_url, "SELECT count(*) FROM pg_class WHERE relname = $1", table
        )
        assert found == 1, f"table {table} is gone"


async def test_schemathesis_finds_no_server_error(
    app: RunningApp, broker_url: str, module_id: str
) -> None:
    url = app.settings.database_url
    assert url is not None
    await _announce(broker_url, module_id, url)
    raw_schema = (await app.http.get("/openapi.json")).json()
    try:
        known, known_failures = await asyncio.to_thread(
            fuzz, app.base_url, raw_schema, module_id=module_id, methods={"GET", "POST"}
        )
        # Any module id, except where a valid request leaves a retained message on the shared
        # broker under an id nobody could clean up (the first run covers that operation).
        retained = frozenset({"POST /api/modules/{module_id}/config"})
        anything, failures = await asyncio.to_thread(fuzz, app.base_url, raw_schema, skip=retained)
    finally:
        await _clear_retained(broker_url, module_id)
    statuses = known + anything
    print(f"\n[schemathesis] {sum(statuses.values())} requests: {dict(sorted(statuses.items()))}")
    assert not known_failures + failures, "\n".join(known_failures + failures)
    assert (await app.http.get("/health")).status_code == 200
    await _tables_intact(url)


async def test_writes_without_the_token_never_succeed(
    app_env: dict[str, str], database_url: str, broker_url: str, module_id: str
) -> None:
    """Generated POST and DELETE requests on a real module, without the token: none succeeds."""
    async with running_app(**app_env, SENSORHUB_API_TOKEN="the-real-token") as app:
        await _announce(broker_url, module_id, database_url)
        raw_schema = (await app.http.get("/openapi.json")).json()
        try:
            statuses, failures = await asyncio.to_thread(
                fuzz,
                app.base_url,
                raw_schema,
                module_id=module_id,
                methods={"POST", "DELETE", "PUT", "PATCH"},
                headers={"Authorization": "Bearer not-the-token"},
            )
            unauthenticated, more = await asyncio.to_thread(
                fuzz, app.base_url, raw_schema, module_id=module_id, methods={"POST", "DELETE"}
            )
        finally:
            await _clear_retained(broker_url, module_id)
        statuses += unauthenticated
        print(f"\n[writes without token] {dict(sorted(statuses.items()))}")
        assert not failures + more, "\n".join(failures + more)
        succeeded = [key for key in statuses if key.rsplit(" ", 1)[1].startswith("2")]
        assert not succeeded, succeeded
        assert sum(n for key, n in statuses.items() if key.endswith(" 401")) > 0
        # nothing changed: the module and its reading are there, no configuration was stored
        sql = "SELECT count(*) FROM {} WHERE module_id = $1"
        assert await db_count(database_url, sql.format("measurements"), module_id) == 1
        assert await db_count(database_url, sql.format("device_system_status"), module_id) == 1
        assert await db_count(database_url, sql.format("sensor_config"), module_id) == 0


async def raw_http(base_url: str, request: bytes, timeout: float = 15.0) -> tuple[int, bytes]:
    """Send bytes as they are (no path normalisation, any header); the status and the body."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


def request(method: str, path: str, headers: str = "", body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode() + body
    )


TRAVERSALS = [
    "/api/modules/../../etc/passwd",
    "/api/modules/../../../../etc/passwd/status",
    "/api/modules/..%2f..%2f..%2fetc%2fpasswd/status",
    "/api/modules/%2e%2e%2f%2e%2e%2fetc%2fpasswd/status",
    "/api/modules/%2e%2e/status",
    "/api/modules/%2e%2e%2f/history",
    "/api/modules/..%5c..%5cwindows%5cwin.ini/status",
    "/api/modules/%252e%252e%252f/status",
    "/api/modules/..;/status",
    "/..%2f..%2fetc/passwd",
    "/docs/../../../../etc/passwd",
    "/socket.io/../../../etc/passwd",
    "/api/modules/%00/status",
    "/api/modules/a%0d%0aSet-Cookie:%20x=1/status",
]
SQL_IDS = [
    "'; DROP TABLE measurements; --",
    "x' OR '1'='1",
    '" OR 1=1 --',
    "1; DELETE FROM device_system_status",
    "') ; TRUNCATE sensor_config CASCADE; --",
    "$$; DROP TABLE device_logs; $$",
    "%' AND pg_sleep(5) IS NULL --",
    "\\'; DROP TABLE measurements; --",
]


async def test_traversal_and_sql_metacharacters_in_module_ids_are_harmless(
    database_url: str, broker_url: str, data_dir: Path, module_id: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    # module ids with SQL metacharacters arrive by MQTT too (they are valid topic levels)
    evil = [f"{text}{tag}" for text in SQL_IDS[:4]] + [f"..{tag}", f"%2e%2e%2f{tag}"]
    topics = ",".join(f"{m}/#" for m in [module_id, *evil])
    async with running_app(
        **instance_env(
            database_url,
            broker_url,
            module_id,
            data_dir,
            MQTT_TOPICS=topics,
        )
    ) as app:
        await _announce(broker_url, module_id, database_url)
        async with Publisher(broker_url, f"evil-{tag}") as publisher:
            for m in evil:
                publisher.publish(f"{m}/temperature", "20")
            await publisher.drain()
        await wait_until(
            count_reaches(database_url, "SELECT count(*) FROM measurements", 1 + len(evil)),
            what="the oddly named modules stored",
        )
        listed = {module["id"] for module in (await app.http.get("/api/modules")).json()}
        assert set(evil) <= listed

        outcomes: dict[str, int] = {}
        for path in TRAVERSALS:
            status, body = await raw_http(app.base_url, get(path))
            outcomes[path] = status
            assert status in (400, 404, 405, 422), (path, status, body[:200])
            assert b"root:" not in body and b"[fonts]" not in body

        configured: list[str] = []
        for text in SQL_IDS:
            quoted = quote(text, safe="")
            for method, path in [
                ("GET", f"/api/modules/{quoted}/status"),
                ("GET", f"/api/modules/{quoted}/history?days=1"),
                ("GET", f"/api/modules/{quoted}/data?from={quote(text)}"),
                ("DELETE", f"/api/modules/{quoted}"),
            ]:
                response = await app.http.request(method, path)
                outcomes[f"{method} {path}"] = response.status_code
                assert response.status_code in (404, 422), (method, path, response.text)
            # a desired configuration for a module not seen yet is stored as plain data
            hostile = f"{module_id}{text}"
            response = await app.http.post(
                f"/api/modules/{quote(hostile, safe='')}/config",
                json={"sensors": {text: {"interval": 5}}},
            )
            assert response.status_code in (200, 422), response.text
            configured.append(hostile)
            # a real module with a hostile sensor name: stored as data, nothing more
            response = await app.http.post(
                f"/api/modules/{module_id}/config", json={"sensors": {text: {"interval": 5}}}
            )
            assert response.status_code in (200, 422), response.text

        # the oddly named modules are ordinary data: readable and deletable one by one
        for m in evil:
            found = await app.http.get(f"/api/modules/{quote(m, safe='')}/status")
            assert found.status_code == 200 and found.json()["id"] == m
        deleted = await app.http.delete(f"/api/modules/{quote(evil[0], safe='')}")
        assert deleted.status_code == 200
        await _tables_intact(database_url)
        assert await db_count(database_url, "SELECT count(*) FROM measurements") == len(evil)
        assert await db_count(
            database_url, "SELECT count(*) FROM measurements WHERE module_id = $1", module_id
        )
        await _clear_retained(broker_url, module_id, *evil, *configured)
        print(f"\n[traversal / SQL] {len(outcomes)} requests: {Counter(outcomes.values())}")


async def test_oversized_and_lying_bodies_are_refused(app: RunningApp, module_id: str) -> None:
    limit = app.settings.max_body_bytes
    config = f"/api/modules/{module_id}/config"
    json_type = "Content-Type: application/json\r\n"
    cases = {
        "declared too large": request(
            "POST", config, f"{json_type}Content-Length: {limit + 1}\r\n"
        ),
        "absurd length": request("POST", config, f"{json_type}Content-Length: {10**30}\r\n"),
        "non-numeric length": request("POST", config, f"{json_type}Content-Length: abc\r\n"),
        "negative length": request("POST", config, f"{json_type}Content-Length: -1\r\n"),
        "large DELETE body": request(
            "DELETE", f"/api/modules/{module_id}", f"Content-Length: {limit * 100}\r\n"
        ),
        "large body to an unknown path": request(
            "POST", "/api/nothing-here", f"Content-Length: {limit * 100}\r\n"
        ),
        "chunked, too large": request(
            "POST",
            config,
            f"{json_type}Transfer-Encoding: chunked\r\n",
            b"".join(b"%x\r\n%s\r\n" % (4096, b" " * 4096) for _ in range(limit // 4096 + 2))
            + b"0\r\n\r\n",
        ),
        "both length and chunked": request(
            "POST",
            config,
            f"{json_type}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            b"5\r\n{}{}{\r\n0\r\n\r\n",
        ),
        "huge header": request("GET", "/api/modules", f"X-Big: {'a' * 200_000}\r\n"),
    }
    outcomes = {}
    for name, data in cases.items():
        try:
            status, _ = await raw_http(app.base_url, data)
        except (ConnectionError, IndexError, ValueError):
            status = 0  # the server hung up on a request it could not parse: refused too
        outcomes[name] = status
    print(f"\n[bodies] {outcomes}")
    for name in ("declared too large", "large DELETE body", "chunked, too large"):
        assert outcomes[name] == 413, (name, outcomes[name])
    assert outcomes["absurd length"] in (400, 413)  # h11 itself refuses a 31-digit length
    assert all(status == 0 or 400 <= status < 500 for status in outcomes.values()), outcomes
    assert (await app.http.get("/health")).status_code == 200
