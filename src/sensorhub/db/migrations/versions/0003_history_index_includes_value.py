"""History index carries the value: history queries read the index alone (index-only scans).

Rows of one module and sensor are spread over the whole table (every module writes into the same
pages), so reading their values from the heap costs one page per reading; with `value` in the
(module_id, sensor_type, time) index a day of one sensor is a few contiguous index pages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "ix_measurements_module_sensor_time"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="measurements")
    op.create_index(
        INDEX, "measurements", ["module_id", "sensor_type", "time"], postgresql_include=["value"]
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="measurements")
    op.create_index(INDEX, "measurements", ["module_id", "sensor_type", "time"])
