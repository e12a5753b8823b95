"""Hourly rollup for plain PostgreSQL: rollup table, dirty-bucket queue, `measurements_hourly` view.

On TimescaleDB `configure_storage` drops these objects and creates the continuous aggregate of the
same name instead; when `measurements` is already a hypertable this revision creates nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Deletes (module removal, retention, manual clean-up) mark their hours for recomputation; inserts
# are marked by the batch writer. Locking the dirty row (DO UPDATE, not DO NOTHING) makes a rollup
# run that takes it wait for this transaction, so it never recomputes without these changes.
CREATE_DIRTY_FUNCTION = """
CREATE FUNCTION sensorhub_mark_rollup_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO measurements_rollup_dirty (bucket, module_id, sensor_type)
    SELECT DISTINCT date_trunc('hour', time, 'UTC'), module_id, sensor_type
    FROM deleted_rows ORDER BY 1, 2, 3
    ON CONFLICT (bucket, module_id, sensor_type) DO UPDATE SET bucket = EXCLUDED.bucket;
    RETURN NULL;
END
$$
"""
CREATE_DELETE_TRIGGER = """
CREATE TRIGGER measurements_rollup_on_delete AFTER DELETE ON measurements
REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT
EXECUTE FUNCTION sensorhub_mark_rollup_dirty()
"""

CREATE_VIEW = """
CREATE VIEW measurements_hourly AS
SELECT bucket, module_id, sensor_type, sum / count AS avg, min, max, count
FROM measurements_hourly_rollup
"""

BACKFILL = """
INSERT INTO measurements_hourly_rollup (bucket, module_id, sensor_type, sum, count, min, max)
SELECT date_trunc('hour', time, 'UTC'), module_id, sensor_type,
       sum(value), count(*), min(value), max(value)
FROM measurements GROUP BY 1, 2, 3
"""

IS_HYPERTABLE = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.hypertables
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements')
"""

IS_CAGG = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.continuous_aggregates
    WHERE view_schema = current_schema() AND view_name = 'measurements_hourly')
"""


def _bucket_key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("sensor_type", sa.Text, nullable=False),
    ]


def _timescale_check(sql: str) -> bool:
    """Run a TimescaleDB catalog check; False when the extension is not installed."""
    bind = op.get_bind()
    installed = bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    ).scalar()
    return bool(installed) and bool(bind.execute(sa.text(sql)).scalar())


def upgrade() -> None:
    if _timescale_check(IS_HYPERTABLE):
        return
    op.create_table(
        "measurements_hourly_rollup",
        *_bucket_key_columns(),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("min", sa.Double, nullable=False),
        sa.Column("max", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(
            "module_id", "sensor_type", "bucket", name="pk_measurements_hourly_rollup"
        ),
    )
    op.create_table(
        "measurements_rollup_dirty",
        *_bucket_key_columns(),
        sa.PrimaryKeyConstraint(
            "bucket", "module_id", "sensor_type", name="pk_measurements_rollup_dirty"
        ),
    )
    op.execute(BACKFILL)
    op.execute(CREATE_VIEW)
    op.execute(CREATE_DIRTY_FUNCTION)
    op.execute(CREATE_DELETE_TRIGGER)


def downgrade() -> None:
    if _timescale_check(IS_CAGG):
        op.execute("DROP MATERIALIZED VIEW IF EXISTS measurements_hourly")
    else:
        op.execute("DROP VIEW IF EXISTS measurements_hourly")
    op.execute("DROP TRIGGER IF EXISTS measurements_rollup_on_delete ON measurements")
    op.execute("DROP FUNCTION IF EXISTS sensorhub_mark_rollup_dirty()")
    op.execute("DROP TABLE IF EXISTS measurements_rollup_dirty")
    op.execute("DROP TABLE IF EXISTS measurements_hourly_rollup")
