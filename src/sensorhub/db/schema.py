"""The storage schema (SPEC §7): one SQLAlchemy table per concept, snake_case columns."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    false,
    func,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamp(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _updated_at() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


device_system_status = Table(
    "device_system_status",
    metadata,
    Column("module_id", Text, primary_key=True),
    Column("name", Text),
    Column("module_type", Text),
    Column("rssi", Integer),
    Column("heap_free_kb", Integer),
    Column("heap_min_free_kb", Integer),
    Column("heap_total_kb", Integer),
    Column("ip", Text),
    Column("mac", Text),
    Column("uptime_start", Text),
    _timestamp("booted_at"),
    Column("flash_used_kb", Integer),
    Column("flash_free_kb", Integer),
    Column("flash_system_kb", Integer),
    _timestamp("last_seen"),
    _updated_at(),
)

device_hardware = Table(
    "device_hardware",
    metadata,
    Column("module_id", Text, primary_key=True),
    Column("chip_model", Text),
    Column("chip_rev", Integer),
    Column("cpu_freq_mhz", Integer),
    Column("flash_kb", Integer),
    Column("cores", Integer),
    _updated_at(),
)

sensor_status = Table(
    "sensor_status",
    metadata,
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("status", Text),
    Column("value", Double),
    _updated_at(),
    PrimaryKeyConstraint("module_id", "sensor_type"),
)

sensor_config = Table(
    "sensor_config",
    metadata,
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("interval_s", Integer),
    Column("model", Text),
    _updated_at(),
    PrimaryKeyConstraint("module_id", "sensor_type"),
)

measurements = Table(
    "measurements",
    metadata,
    _timestamp("time", nullable=False),
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("hardware_id", Text, nullable=False),
    Column("value", Double, nullable=False),
    PrimaryKeyConstraint("time", "module_id", "sensor_type", "hardware_id"),
    Index(
        "ix_measurements_module_sensor_time",
        "module_id",
        "sensor_type",
        "time",
        postgresql_include=["value"],
    ),
)

system_metrics = Table(
    "system_metrics",
    metadata,
    _timestamp("time", nullable=False),
    Column("db_size_bytes", BigInteger, nullable=False),
    Column("measurement_count", BigInteger, nullable=False),
    Column("module_count", Integer, nullable=False),
    Column("ingest_rate", Double, nullable=False),
    PrimaryKeyConstraint("time"),
)

device_logs = Table(
    "device_logs",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _timestamp("time", nullable=False),
    Column("module_id", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_device_logs_module_time", "module_id", "time"),
)

# Plain PostgreSQL only (migration 0002); on TimescaleDB `measurements_hourly` is a continuous
# aggregate and this does not exist.
measurements_hourly_rollup = Table(
    "measurements_hourly_rollup",
    metadata,
    _timestamp("bucket", nullable=False),
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("sum", Double, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("min", Double, nullable=False),
    Column("max", Double, nullable=False),
    PrimaryKeyConstraint("module_id", "sensor_type", "bucket"),
)

# Append-only queue of (hour, module, sensor) buckets to recompute (migration 0004_a): no unique
# key, so ingest's plain INSERT never waits on the rollup job; the job turns what it takes into
# `claimed` rows, deleted by `id` once recomputed. Exists on TimescaleDB too (back-filled hours).
measurements_rollup_dirty = Table(
    "measurements_rollup_dirty",
    metadata,
    _timestamp("bucket", nullable=False),
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("claimed", Boolean, nullable=False, server_default=false()),
)

sensorhub_meta = Table(
    "sensorhub_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    _updated_at(),
)

MODULE_TABLES = (
    device_system_status,
    device_hardware,
    sensor_status,
    sensor_config,
    measurements,
    device_logs,
)
"""Every table holding rows of one module (by `module_id`), for deleting a module."""
