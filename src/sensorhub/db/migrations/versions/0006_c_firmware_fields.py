"""Columns for what the seed's firmware reports and sensorhub dropped.

`system/config` carries `flash.totalKb` (the flash chip's size, distinct from the sketch's used
and free space and the legacy `systemKb`), and `sensors/config` an `enabled` flag per sensor (a
sensor stopped from the dashboard). Both nullable: older firmware does not send them.

Revision ID: 0006_c_firmware_fields
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_c_firmware_fields"
down_revision = "0005_b_ingest_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("device_system_status", sa.Column("flash_total_kb", sa.Integer()))
    op.add_column("sensor_config", sa.Column("enabled", sa.Boolean()))


def downgrade() -> None:
    op.drop_column("sensor_config", "enabled")
    op.drop_column("device_system_status", "flash_total_kb")
