"""The rollup's dirty-bucket table becomes an append-only queue nobody waits on.

Before: `measurements_rollup_dirty` had a primary key on (bucket, module, sensor); every ingest
batch upserted its buckets (`ON CONFLICT DO UPDATE`) and the rollup job took them with
`FOR UPDATE SKIP LOCKED` and recomputed inside the same transaction, so a batch that touched a
bucket the job held waited on the job's transaction id for the whole recompute (the hourly stall
of issue 17: 7% of a 2,000 msg/s stream lost). After: no unique constraint, so an insert has
nothing to conflict on. The job claims what is queued in one short transaction (the rows become
one `claimed` row per distinct bucket), recomputes outside it, and deletes each claimed row (by
its identity `id`) once recomputed, so a crash in between only repeats work
(`sensorhub.db.rollup`). The table
exists on TimescaleDB too, where it queues back-filled hours for a prompt refresh of the
continuous aggregate.

Revision ID: 0004_a_rollup_queue
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_a_rollup_queue"
down_revision = "0003"
branch_labels = None
depends_on = None

# Deletes (module removal, retention, manual clean-up) queue their hours; inserts are queued by the
# batch writer. A plain insert: a job working on the same bucket never makes the deleter wait.
QUEUE_ON_DELETE = """
CREATE OR REPLACE FUNCTION sensorhub_mark_rollup_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
    SELECT DISTINCT date_trunc('hour', time, 'UTC'), module_id, sensor_type FROM deleted_rows;
    RETURN NULL;
END
$$
"""

UPSERT_ON_DELETE = """
CREATE OR REPLACE FUNCTION sensorhub_mark_rollup_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
    SELECT DISTINCT date_trunc('hour', time, 'UTC'), module_id, sensor_type
    FROM deleted_rows ORDER BY 1, 2, 3
    ON CONFLICT (bucket, module_id, sensor_type) DO UPDATE SET bucket = EXCLUDED.bucket;
    RETURN NULL;
END
$$
"""

CREATE_QUEUE = """
CREATE TABLE IF NOT EXISTS measurements_rollup_dirty (
    bucket timestamptz NOT NULL,
    module_id text NOT NULL,
    sensor_type text NOT NULL
)
"""


def _has_trigger_function() -> bool:
    return bool(
        op.get_bind()
        .execute(sa.text("SELECT to_regprocedure('sensorhub_mark_rollup_dirty()') IS NOT NULL"))
        .scalar()
    )


def upgrade() -> None:
    # On a database already on TimescaleDB, 0002 created nothing: create the bare queue first.
    op.execute(CREATE_QUEUE)
    op.execute(
        "ALTER TABLE measurements_rollup_dirty "
        "DROP CONSTRAINT IF EXISTS pk_measurements_rollup_dirty"
    )
    op.execute(
        "ALTER TABLE measurements_rollup_dirty "
        "ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY "
        "CONSTRAINT pk_measurements_rollup_dirty PRIMARY KEY, "
        "ADD COLUMN claimed boolean NOT NULL DEFAULT false"
    )
    if _has_trigger_function():
        op.execute(QUEUE_ON_DELETE)


def downgrade() -> None:
    # Collapse duplicates so the old primary key can come back.
    op.execute(
        "DELETE FROM measurements_rollup_dirty AS a USING measurements_rollup_dirty AS b "
        "WHERE a.id > b.id AND (a.bucket, a.module_id, a.sensor_type) "
        "= (b.bucket, b.module_id, b.sensor_type)"
    )
    op.execute("ALTER TABLE measurements_rollup_dirty DROP CONSTRAINT pk_measurements_rollup_dirty")
    op.execute("ALTER TABLE measurements_rollup_dirty DROP COLUMN id, DROP COLUMN claimed")
    op.execute(
        "ALTER TABLE measurements_rollup_dirty ADD CONSTRAINT pk_measurements_rollup_dirty "
        "PRIMARY KEY (bucket, module_id, sensor_type)"
    )
    if _has_trigger_function():
        op.execute(UPSERT_ON_DELETE)
