"""Initial schema: module status tables, measurements, metrics, logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tz(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _updated_at() -> sa.Column[object]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "device_system_status",
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("module_type", sa.Text),
        sa.Column("rssi", sa.Integer),
        sa.Column("heap_free_kb", sa.Integer),
        sa.Column("heap_min_free_kb", sa.Integer),
        sa.Column("heap_total_kb", sa.Integer),
        sa.Column("ip", sa.Text),
        sa.Column("mac", sa.Text),
        sa.Column("uptime_start", sa.Text),
        _tz("booted_at"),
        sa.Column("flash_used_kb", sa.Integer),
        sa.Column("flash_free_kb", sa.Integer),
        sa.Column("flash_system_kb", sa.Integer),
        _tz("last_seen"),
        _updated_at(),
        sa.PrimaryKeyConstraint("module_id", name="pk_device_system_status"),
    )
    op.create_table(
        "device_hardware",
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("chip_model", sa.Text),
        sa.Column("chip_rev", sa.Integer),
        sa.Column("cpu_freq_mhz", sa.Integer),
        sa.Column("flash_kb", sa.Integer),
        sa.Column("cores", sa.Integer),
        _updated_at(),
        sa.PrimaryKeyConstraint("module_id", name="pk_device_hardware"),
    )
    op.create_table(
        "sensor_status",
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("sensor_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text),
        sa.Column("value", sa.Double),
        _updated_at(),
        sa.PrimaryKeyConstraint("module_id", "sensor_type", name="pk_sensor_status"),
    )
    op.create_table(
        "sensor_config",
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("sensor_type", sa.Text, nullable=False),
        sa.Column("interval_s", sa.Integer),
        sa.Column("model", sa.Text),
        _updated_at(),
        sa.PrimaryKeyConstraint("module_id", "sensor_type", name="pk_sensor_config"),
    )
    op.create_table(
        "measurements",
        _tz("time", nullable=False),
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("sensor_type", sa.Text, nullable=False),
        sa.Column("hardware_id", sa.Text, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(
            "time", "module_id", "sensor_type", "hardware_id", name="pk_measurements"
        ),
    )
    op.create_index(
        "ix_measurements_module_sensor_time", "measurements", ["module_id", "sensor_type", "time"]
    )
    op.create_table(
        "system_metrics",
        _tz("time", nullable=False),
        sa.Column("db_size_bytes", sa.BigInteger, nullable=False),
        sa.Column("measurement_count", sa.BigInteger, nullable=False),
        sa.Column("module_count", sa.Integer, nullable=False),
        sa.Column("ingest_rate", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("time", name="pk_system_metrics"),
    )
    op.create_table(
        "device_logs",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        _tz("time", nullable=False),
        sa.Column("module_id", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_device_logs"),
    )
    op.create_index("ix_device_logs_module_time", "device_logs", ["module_id", "time"])
    op.create_table(
        "sensorhub_meta",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("key", name="pk_sensorhub_meta"),
    )


def downgrade() -> None:
    for table in (
        "sensorhub_meta",
        "device_logs",
        "system_metrics",
        "measurements",
        "sensor_config",
        "sensor_status",
        "device_hardware",
        "device_system_status",
    ):
        op.drop_table(table)
