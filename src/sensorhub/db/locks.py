"""PostgreSQL advisory-lock keys: one scheme for every lock sensorhub takes.

A lock is named (`"migrations"`, `"storage"`, a periodic job's name) and `advisory_key` turns the
name into the 64-bit key `pg_advisory_lock` takes. Every instance of every version must compute
the same key for the same name, or two instances would both take "the" lock during a rolling
upgrade: so the two locks that had fixed numbers before this module existed keep them, and every
other name hashes as periodic jobs always did.
"""

from __future__ import annotations

import zlib

MIGRATIONS = "migrations"  # several instances starting at once migrate one after another
STORAGE = "storage"  # instances starting together configure storage one after another

_FIXED_KEYS = {MIGRATIONS: 0x5E5052, STORAGE: 0x5E5053}


def advisory_key(name: str) -> int:
    """The advisory-lock key for the lock called `name`: a non-negative integer below 2**32.

    `MIGRATIONS` and `STORAGE` map to their historical fixed keys; any other name (a periodic
    job, see `sensorhub.jobs`) maps to crc32 of `"sensorhub-job:{name}"`.
    """
    fixed = _FIXED_KEYS.get(name)
    if fixed is not None:
        return fixed
    return zlib.crc32(f"sensorhub-job:{name}".encode())
