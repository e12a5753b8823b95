"""The rollup queue holds touched minutes instead of touched hours.

Before: `measurements_rollup_dirty.bucket` was the start of a UTC hour, and every run of the
rollup job re-read every reading of each queued hour from `measurements`, so a run late in an
hour of a steady stream re-scanned the whole hour (issue 14). After: `bucket` is the start of a
UTC minute; the job recomputes only the queued minutes from `measurements` and folds their hours
from the minute rollup (`sensorhub.db.rollup`), and history reads only the queued minutes raw
(`sensorhub.modules.devices.history_sql`). The table's columns do not change.

History reads the queued minutes of one module for every request: the index
`ix_measurements_rollup_dirty_module_bucket` finds them without scanning the queue, which a
backlog or a back-fill leaves with many (dead) rows until vacuum.

Upgrade: each queued hour becomes its 60 minutes (nothing queued is lost: the job recomputes
every minute of the hour, as it recomputed the hour), and the delete trigger queues minutes.
Downgrade: the minutes collapse back into their hours. On TimescaleDB (no trigger) the queue holds
back-filled minutes; the job refreshes the aggregate over their whole hours.

Revision ID: 0009_p_minute_queue
Revises: 0008_p_minute_rollup
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_p_minute_queue"
down_revision = "0008_p_minute_rollup"
branch_labels = None
depends_on = None

QUEUE = "measurements_rollup_dirty"
MODULE_INDEX = "ix_measurements_rollup_dirty_module_bucket"

HOURS_TO_MINUTES = f"""
WITH hours AS (
    DELETE FROM {QUEUE} RETURNING bucket, module_id, sensor_type
)
INSERT INTO {QUEUE} (bucket, module_id, sensor_type)
SELECT DISTINCT date_trunc('hour', h.bucket, 'UTC') + make_interval(mins => m.minute),
       h.module_id, h.sensor_type
FROM hours AS h CROSS JOIN generate_series(0, 59) AS m(minute)
"""

MINUTES_TO_HOURS = f"""
WITH minutes AS (
    DELETE FROM {QUEUE} RETURNING bucket, module_id, sensor_type
)
INSERT INTO {QUEUE} (bucket, module_id, sensor_type)
SELECT DISTINCT date_trunc('hour', bucket, 'UTC'), module_id, sensor_type FROM minutes
"""

# A plain insert, as since 0004_a: a job working on the same minute never makes the deleter wait.
QUEUE_ON_DELETE = """
CREATE OR REPLACE FUNCTION sensorhub_mark_rollup_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
    SELECT DISTINCT date_trunc('{unit}', time, 'UTC'), module_id, sensor_type FROM deleted_rows;
    RETURN NULL;
END
$$
"""


def _has_trigger_function() -> bool:
    return bool(
        op.get_bind()
        .execute(sa.text("SELECT to_regprocedure('sensorhub_mark_rollup_dirty()') IS NOT NULL"))
        .scalar()
    )


def upgrade() -> None:
    op.execute(HOURS_TO_MINUTES)
    op.create_index(MODULE_INDEX, QUEUE, ["module_id", "bucket"])
    if _has_trigger_function():
        op.execute(QUEUE_ON_DELETE.replace("{unit}", "minute"))


def downgrade() -> None:
    op.drop_index(MODULE_INDEX, table_name=QUEUE)
    op.execute(MINUTES_TO_HOURS)
    if _has_trigger_function():
        op.execute(QUEUE_ON_DELETE.replace("{unit}", "hour"))
