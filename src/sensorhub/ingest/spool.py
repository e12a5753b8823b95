"""A durable, append-only spool of batches on local disk, replayed in order.

Records are `length (4 bytes) | crc32 (4 bytes) | payload`, appended to numbered segment files and
fsync'ed before `append` returns, so a spooled batch survives SIGKILL and power loss. A torn last
record (crash in the middle of a write) fails its length or checksum and is ignored: it was never
acknowledged. Segments are deleted once every record in them is in the database.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!II")
_SUFFIX = ".spool"
SEGMENT_BYTES = 16 * 1024 * 1024


class SpoolFull(Exception):
    """The spool cannot take more data now (size limit reached or disk full)."""


class Spool:
    """Segment files in `directory`: the writer appends, the replayer consumes oldest first."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segments = sorted(self.directory.glob(f"*{_SUFFIX}"))
        self._size = sum(path.stat().st_size for path in self._segments)
        self._active: Path | None = None
        self._active_file: int | None = None
        self._records = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def is_empty(self) -> bool:
        return not self._segments

    def append(self, record: bytes) -> None:
        """Write one record durably, or raise SpoolFull and leave the spool as it was."""
        frame = _HEADER.pack(len(record), zlib.crc32(record)) + record
        if self._size + len(frame) > self.max_bytes:
            raise SpoolFull(f"spool limit of {self.max_bytes} bytes reached")
        descriptor = self._writable_segment()
        position = os.lseek(descriptor, 0, os.SEEK_END)
        try:
            if os.write(descriptor, frame) != len(frame):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(descriptor)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, position)
            raise SpoolFull(f"cannot write the spool: {error}") from error
        self._size += len(frame)
        if position + len(frame) >= SEGMENT_BYTES:
            self._close_active()

    def segments(self) -> list[Path]:
        """The segment files, oldest first."""
        return list(self._segments)

    def oldest_segment(self) -> Path | None:
        """The oldest segment, closed for writing first so that it can be consumed whole."""
        if not self._segments:
            return None
        if self._segments[0] == self._active:
            self._close_active()
        return self._segments[0]

    def read_segment(self, segment: Path) -> Iterator[bytes]:
        with segment.open("rb") as stream:
            while True:
                header = stream.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                length, checksum = _HEADER.unpack(header)
                record = stream.read(length)
                if len(record) < length or zlib.crc32(record) != checksum:
                    logger.warning("spool segment %s ends with a torn record; ignoring it", segment)
                    return
                yield record

    def remove_segment(self, segment: Path) -> None:
        size = segment.stat().st_size
        segment.unlink()
        self._segments.remove(segment)
        self._size -= size
        self._fsync_directory()

    def close(self) -> None:
        self._close_active()

    def _writable_segment(self) -> int:
        if self._active_file is None:
            number = int(self._segments[-1].stem) + 1 if self._segments else 1
            self._active = self.directory / f"{number:012d}{_SUFFIX}"
            self._active_file = os.open(self._active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._segments.append(self._active)
            self._fsync_directory()
        return self._active_file

    def _close_active(self) -> None:
        if self._active_file is not None:
            os.close(self._active_file)
            self._active_file = None
            self._active = None

    def _fsync_directory(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
