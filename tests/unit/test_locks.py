"""Advisory-lock keys: one scheme, and the keys running instances already use do not move."""

from __future__ import annotations

import zlib

from sensorhub.db import locks


def test_migration_and_storage_locks_keep_the_keys_older_instances_take() -> None:
    # A rolling upgrade runs old and new instances against one database; both must serialise on
    # the same keys, so these two numbers are part of the on-database contract.
    assert locks.advisory_key(locks.MIGRATIONS) == 0x5E5052
    assert locks.advisory_key(locks.STORAGE) == 0x5E5053


def test_job_locks_keep_their_crc32_keys() -> None:
    assert locks.advisory_key("rollup") == zlib.crc32(b"sensorhub-job:rollup")
    assert locks.advisory_key("rollup") != locks.advisory_key("retention")
