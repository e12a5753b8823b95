"""Disk full on real, size-limited filesystems (issue 17): tmpfs mounts made by the test for the
spool and for the data directory of a PostgreSQL server the test owns.

While both are full, acknowledgements stop (the buffer's futures stay pending) and the API
answers 503; once space returns, everything acknowledged is in the database, with no restart.

Needs root (mount, and running PostgreSQL as the `postgres` user) and PostgreSQL server binaries;
skipped with the reason otherwise. The server's WAL lives outside the small filesystem: on a full
WAL PostgreSQL PANICs and restarts, and a data directory that fills up while the WAL still has
room is the case that keeps the server up and is recoverable without an operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import logging
import os
import pwd
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from sensorhub.config import Settings
from sensorhub.db.batch_writer import BatchRepository
from sensorhub.db.migrate import migrate
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.messages import Accepted
from sensorhub.ingest.spool import Spool
from sensorhub.metrics import Metrics
from sensorhub.plugins.embedded import free_port
from tests.support import running_app, wait_until, world_traversable_dir

PG_FS_BYTES = 96 * 2**20
SPOOL_FS_BYTES = 256 * 2**10
BATCH = 500


def _postgres_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


class SmallFilesystem:
    """A tmpfs of `size` bytes mounted on `path`; `fill()` takes all its free space."""

    def __init__(self, path: Path, size: int, owner: str | None = None) -> None:
        self.path = path
        self.size = size
        self.owner = owner
        self.filler = path / "filler"

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode})")
        if self.owner is not None:
            account = pwd.getpwnam(self.owner)
            os.chown(self.path, account.pw_uid, account.pw_gid)

    def fill(self) -> None:
        """Write until ENOSPC: the filesystem is really full, for every process."""
        with self.filler.open("ab") as stream:
            chunk = b"\0" * 65536
            with contextlib.suppress(OSError):
                while True:
                    stream.write(chunk)
                    stream.flush()
            while True:  # the last partial chunks
                try:
                    os.write(stream.fileno(), b"\0" * 512)
                except OSError as error:
                    assert error.errno == errno.ENOSPC
                    break

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@contextlib.contextmanager
def small_filesystem(path: Path, size: int, owner: str | None = None) -> Iterator[SmallFilesystem]:
    filesystem = SmallFilesystem(path, size, owner)
    filesystem.mount()
    try:
        yield filesystem
    finally:
        filesystem.unmount()


@dataclass
class OwnedPostgres:
    url: str
    data: SmallFilesystem


@pytest.fixture
async def owned_postgres() -> AsyncIterator[OwnedPostgres]:
    """PostgreSQL with its data directory on a small tmpfs, WAL and socket outside it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("needs PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("needs a `postgres` system user to run the server as")
    with (
        world_traversable_dir("sensorhub-diskfull-") as root,
        small_filesystem(root / "pgdata", PG_FS_BYTES, owner="postgres") as data,
    ):
        for name in ("wal", "socket", "logs"):
            (root / name).mkdir()
            shutil.chown(root / name, "postgres", "postgres")
        pgdata = data.path / "cluster"
        port = free_port()

        def as_postgres(*command: str) -> None:
            subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                           capture_output=True)  # fmt: skip

        as_postgres(str(bindir / "initdb"), "-D", str(pgdata), "--waldir", str(root / "wal"),
                    "-A", "trust", "-U", "postgres", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {root / 'socket'} -c listen_addresses='' -c fsync=off"
        as_postgres(str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", str(root / "logs" / "log"),
                    "-o", options, "-w", "start")  # fmt: skip
        try:
            server = f"postgresql://postgres@/postgres?host={root / 'socket'}&port={port}"
            admin = await asyncpg.connect(server)
            await admin.execute("CREATE DATABASE diskfull")
            await admin.close()
            url = f"postgresql://postgres@/diskfull?host={root / 'socket'}&port={port}"
            await migrate(Settings(), url)
            yield OwnedPostgres(url, data)
        finally:
            data.free()
            with contextlib.suppress(OSError):  # shown by pytest when the test fails
                print((root / "logs" / "log").read_text()[-3000:])
            subprocess.run(["runuser", "-u", "postgres", "--", str(bindir / "pg_ctl"), "-D",
                            str(pgdata), "-m", "immediate", "stop"], capture_output=True)  # fmt: skip


NOW = datetime.now(UTC).replace(microsecond=0)


def reading(n: int) -> Accepted:
    stamp = (NOW - timedelta(seconds=5000 - n)).isoformat()
    payload = f'{{"value": {n / 100}, "time": "{stamp}"}}'.encode()
    result = interpret("diskfull-1/humidity", payload, datetime.now(UTC))
    assert isinstance(result, Accepted)
    return result


async def test_acknowledgements_stop_while_both_disks_are_full_and_resume_by_themselves(
    owned_postgres: OwnedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await asyncpg.create_pool(owned_postgres.url, min_size=1, max_size=4)
    with (
        world_traversable_dir("sensorhub-spoolfs-") as root,
        small_filesystem(root / "spool", SPOOL_FS_BYTES) as spool_fs,
    ):
        metrics = Metrics()
        repository = BatchRepository(pool, write_timeout=30)
        buffer = IngestBuffer(
            repository.write,
            Spool(spool_fs.path / "segments", 1 << 30),  # the filesystem, not the limit, is full
            metrics,
            max_size=BATCH,
            max_age=3600,
        )
        try:
            async with buffer.running(replay_timeout=60):
                first = [buffer.add(reading(n)) for n in range(BATCH)]
                await asyncio.wait_for(
                    asyncio.gather(*first), 30
                )  # healthy: stored and acknowledged

                owned_postgres.data.fill()
                spool_fs.fill()
                with caplog.at_level(logging.WARNING):
                    # Batches too large for the free space left in the table's pages.
                    held = [buffer.add(reading(n)) for n in range(BATCH, 3 * BATCH)]
                    await wait_until(
                        lambda: any(
                            "cannot store nor spool" in r.getMessage() for r in caplog.records
                        ),
                        what="the buffer to hold acknowledgements",
                    )
                assert metrics.db_write_errors._value.get() >= 1
                assert not any(future.done() for future in held)  # nothing acknowledged

                spool_fs.free()  # the spool has room again: acknowledged from the spool
                await asyncio.wait_for(asyncio.gather(*held), 60)
                assert metrics.spooled._value.get() == 2 * BATCH
                owned_postgres.data.free()  # and once the database has room, the spool replays
        finally:
            spool_fs.free()
            owned_postgres.data.free()
    await repository.close()  # its writing connection goes back to the pool
    values = await pool.fetch(
        "SELECT value FROM measurements WHERE module_id = 'diskfull-1' ORDER BY time"
    )
    await pool.close()
    assert [r["value"] for r in values] == [n / 100 for n in range(3 * BATCH)]


async def test_the_api_answers_503_while_the_database_disk_is_full(
    owned_postgres: OwnedPostgres, broker_url: str, module_id: str
) -> None:
    connection = await asyncpg.connect(owned_postgres.url)
    await connection.execute(
        "INSERT INTO device_system_status (module_id, name, last_seen) VALUES ($1, $1, now())",
        module_id,
    )
    await connection.close()
    with world_traversable_dir("sensorhub-diskfull-app-") as data_dir:
        async with running_app(
            DATABASE_URL=owned_postgres.url,
            MQTT_URL=broker_url,
            DATA_DIR=str(data_dir),
            MQTT_TOPICS=f"{module_id}/#",
            MQTT_CLIENT_ID=f"sh-{module_id}"[:64],
        ) as app:
            body = {"sensors": {f"s{n}": {"interval": 30, "model": "x" * 64} for n in range(50)}}
            owned_postgres.data.fill()
            try:
                response = await app.http.post(f"/api/modules/{module_id}/config", json=body)
                assert response.status_code == 503, response.text
                assert response.json()["status"] == 503
                assert "Retry-After" in response.headers
            finally:
                owned_postgres.data.free()
            response = await app.http.post(f"/api/modules/{module_id}/config", json=body)
            assert response.status_code == 200, response.text
