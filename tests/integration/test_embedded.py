"""With nothing configured, sensorhub runs on an embedded PostgreSQL and an embedded broker."""

from pathlib import Path

import psutil

from sensorhub.plugins.embedded import port_is_free
from tests.support import running_app, world_traversable_dir


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(process)
    return found


async def test_embedded_database_and_broker_start_serve_and_stop_cleanly() -> None:
    with world_traversable_dir("sensorhub-embedded-") as directory:
        await _embedded_scenario(directory / "data")


async def _embedded_scenario(data_dir: Path) -> None:
    async with running_app(DATA_DIR=str(data_dir), EMBEDDED_MQTT_PORT="0") as running:
        ready = await running.http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "database": True,
            "broker": True,
            "timescaledb": False,
        }
        assert (await running.http.get("/health")).json() == {"status": "ok"}
        pgdata = data_dir.resolve() / "postgres"
        assert _postgres_processes(pgdata), "embedded PostgreSQL should be running"
        broker_url = running.runtime.broker_url
        assert broker_url is not None and broker_url.startswith("mqtt://127.0.0.1:")
        broker_port = int(broker_url.rsplit(":", 1)[1])
        assert not port_is_free("127.0.0.1", broker_port)

    assert not _postgres_processes(pgdata), "embedded PostgreSQL left running"
    assert port_is_free("127.0.0.1", broker_port), "embedded broker still listening"


async def test_embedded_broker_picks_another_port_when_its_port_is_taken() -> None:
    import socket

    with socket.socket() as taken, world_traversable_dir("sensorhub-embedded-") as tmp_path:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running_app(
            DATA_DIR=str(tmp_path / "d"), EMBEDDED_MQTT_PORT=str(port)
        ) as running:
            assert running.runtime.broker_url != f"mqtt://127.0.0.1:{port}"
            assert (await running.http.get("/ready")).status_code == 200
