"""Minute rollup per hardware id: chart-resolution history without reading every raw reading.

`measurements_minute_rollup` holds sum, count, min and max per (UTC minute, module, sensor type,
hardware id), maintained by the rollup job from the same queue of touched hours as the hourly
rollup (`sensorhub.db.rollup`). History over a day of a 1 Hz sensor reads 1,440 of its rows
instead of 86,400 readings; hours still queued for the job, and the partial minutes at the ends of
a range, are read from `measurements` (`sensorhub.modules.devices.history_sql`). The hourly
rollup cannot serve that: it merges the hardware ids of a sensor type (issue 12 item 7).

Plain PostgreSQL only, like revision 0002: on TimescaleDB history buckets raw rows with
`time_bucket` and `configure_storage` drops this table.

Revision ID: 0008_p_minute_rollup
Revises: 0007_d_api
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_p_minute_rollup"
down_revision = "0007_d_api"
branch_labels = None
depends_on = None

TABLE = "measurements_minute_rollup"

BACKFILL = f"""
INSERT INTO {TABLE} (module_id, sensor_type, bucket, hardware_id, sum, count, min, max)
SELECT module_id, sensor_type, date_trunc('minute', time, 'UTC'), hardware_id,
       sum(value), count(*), min(value), max(value)
FROM measurements GROUP BY 1, 2, 3, 4
"""


IS_HYPERTABLE = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.hypertables
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements')
"""


def _is_hypertable() -> bool:
    bind = op.get_bind()
    installed = bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    ).scalar()
    return bool(installed) and bool(bind.execute(sa.text(IS_HYPERTABLE)).scalar())


def upgrade() -> None:
    if _is_hypertable():
        return
    op.create_table(
        TABLE,
        sa.Column("module_id", sa.Text(), nullable=False),
        sa.Column("sensor_type", sa.Text(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hardware_id", sa.Text(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        # The aggregates ride in the key's index: a range of minutes is an index-only scan.
        sa.PrimaryKeyConstraint(
            "module_id",
            "sensor_type",
            "bucket",
            "hardware_id",
            name="pk_measurements_minute_rollup",
            postgresql_include=["sum", "count", "min", "max"],
        ),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
