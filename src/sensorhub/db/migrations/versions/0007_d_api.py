"""API tables: desired configuration, zones, preferences, activity log; history index per hardware.

- `sensor_config_desired`: the configuration set through the API and published retained to
  `{id}/sensors/config` (issue 12 item 5). `sensor_config` keeps what modules report. Existing
  `sensor_config` rows are copied here once, because until now they were what sensorhub
  republished on every broker connection; nothing changes for the modules on upgrade.
- `zones`, `zone_modules`, `module_preferences`: the seed dashboard's zones and per-module
  preferences (issue 15).
- `activity_log`: sensorhub's own events, served with `device_logs` by `/api/logs` newest first;
  `device_logs` gets an index on `time` for that order (its index leads with `module_id`).
- The history index carries `hardware_id` too, so history per hardware id and sensor type
  (issue 12 item 7) stays an index-only scan instead of one heap page per reading.

Revision ID: 0007_d_api
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_d_api"
down_revision = "0006_c_firmware_fields"
branch_labels = None
depends_on = None

HISTORY_INDEX = "ix_measurements_module_sensor_time"


def _updated_at() -> sa.Column[object]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "sensor_config_desired",
        sa.Column("module_id", sa.Text(), nullable=False),
        sa.Column("sensor_type", sa.Text(), nullable=False),
        sa.Column("interval_s", sa.Integer()),
        sa.Column("model", sa.Text()),
        _updated_at(),
        sa.PrimaryKeyConstraint("module_id", "sensor_type", name="pk_sensor_config_desired"),
    )
    op.execute(
        "INSERT INTO sensor_config_desired (module_id, sensor_type, interval_s, model) "
        "SELECT module_id, sensor_type, interval_s, model FROM sensor_config "
        "WHERE interval_s IS NOT NULL OR model IS NOT NULL"
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Uuid(), server_default=sa.func.gen_random_uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_zones"),
    )
    op.create_table(
        "zone_modules",
        sa.Column("module_id", sa.Text(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("module_id", name="pk_zone_modules"),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name="fk_zone_modules_zone_id_zones", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_zone_modules_zone_id", "zone_modules", ["zone_id"])
    op.create_table(
        "module_preferences",
        sa.Column("module_id", sa.Text(), nullable=False),
        sa.Column(
            "preferences", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'")
        ),
        _updated_at(),
        sa.PrimaryKeyConstraint("module_id", name="pk_module_preferences"),
    )
    op.create_table(
        "activity_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text()),
        sa.Column("module_id", sa.Text()),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB()),
        sa.PrimaryKeyConstraint("id", name="pk_activity_log"),
    )
    op.create_index("ix_activity_log_time", "activity_log", ["time"])
    op.create_index("ix_activity_log_module_time", "activity_log", ["module_id", "time"])
    op.create_index("ix_device_logs_time", "device_logs", ["time"], if_not_exists=True)
    op.drop_index(HISTORY_INDEX, table_name="measurements")
    op.create_index(
        HISTORY_INDEX,
        "measurements",
        ["module_id", "sensor_type", "time"],
        postgresql_include=["value", "hardware_id"],
    )


def downgrade() -> None:
    op.create_index("ix_device_logs_time", "device_logs", ["time"], if_not_exists=True)
    op.drop_index(HISTORY_INDEX, table_name="measurements")
    op.create_index(
        HISTORY_INDEX,
        "measurements",
        ["module_id", "sensor_type", "time"],
        postgresql_include=["value"],
    )
    op.drop_index("ix_device_logs_time", table_name="device_logs", if_exists=True)
    op.drop_table("activity_log")
    op.drop_table("module_preferences")
    op.drop_table("zone_modules")
    op.drop_table("zones")
    op.drop_table("sensor_config_desired")
