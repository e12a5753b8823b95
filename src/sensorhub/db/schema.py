"""The storage schema (docs/contract.md §7): one SQLAlchemy table per concept, snake_case."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

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
    Column("flash_total_kb", Integer),  # migration 0006_c
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
    Column("enabled", Boolean),  # migration 0006_c
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
    # One btree, led by the series: history reads it index-only; time windows use the BRIN
    # index (migration 0010_p). A hypertable keeps the time-led key and the history index.
    PrimaryKeyConstraint(
        "module_id", "sensor_type", "time", "hardware_id", postgresql_include=["value"]
    ),
    Index(
        "ix_measurements_time",
        "time",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
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
    Index("ix_device_logs_time", "time"),  # /api/logs, newest first (migration 0007)
)

# A log line's natural key (migration 0005_b): a redelivered line is absorbed, not stored twice.
Index(
    "ux_device_logs_natural_key",
    device_logs.c.module_id,
    device_logs.c.time,
    device_logs.c.level,
    func.md5(device_logs.c.message),
    unique=True,
)

# Receive times given to QoS 1 packets, one row per written batch (sensorhub.ingest.receipts).
ingest_receipts = Table(
    "ingest_receipts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("client_id", Text, nullable=False),
    _timestamp("written_at", nullable=False),
    Column("packet_ids", ARRAY(Integer), nullable=False),
    Column("digests", ARRAY(BigInteger), nullable=False),
    Column("times", ARRAY(DateTime(timezone=True)), nullable=False),
    Index("ix_ingest_receipts_client_id_id", "client_id", "id"),
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

# Plain PostgreSQL only (migration 0008_p): per-minute aggregates per hardware id for history.
measurements_minute_rollup = Table(
    "measurements_minute_rollup",
    metadata,
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    _timestamp("bucket", nullable=False),
    Column("hardware_id", Text, nullable=False),
    Column("sum", Double, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("min", Double, nullable=False),
    Column("max", Double, nullable=False),
    PrimaryKeyConstraint(
        "module_id",
        "sensor_type",
        "bucket",
        "hardware_id",
        postgresql_include=["sum", "count", "min", "max"],
    ),
)

# Append-only queue of (minute, module, sensor) buckets to recompute (migrations 0004_a, 0009_p;
# `bucket` is the minute's start): no unique key, so ingest's plain INSERT never waits on the
# rollup job; the job turns what it takes into `claimed` rows, deleted by `id` once recomputed.
# Exists on TimescaleDB too (minutes of back-filled hours).
measurements_rollup_dirty = Table(
    "measurements_rollup_dirty",
    metadata,
    _timestamp("bucket", nullable=False),
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("claimed", Boolean, nullable=False, server_default=false()),
    # History reads one module's queued minutes per request (migration 0009_p).
    Index("ix_measurements_rollup_dirty_module_bucket", "module_id", "bucket"),
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

# --- API (helper D, migration 0007): desired configuration, zones, preferences, activity log ---

sensor_config_desired = Table(
    "sensor_config_desired",
    metadata,
    Column("module_id", Text, nullable=False),
    Column("sensor_type", Text, nullable=False),
    Column("interval_s", Integer),
    Column("model", Text),
    _updated_at(),
    PrimaryKeyConstraint("module_id", "sensor_type"),
)
"""Configuration set through the API (desired); `sensor_config` is what modules report."""

zones = Table(
    "zones",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=func.gen_random_uuid()),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

zone_modules = Table(
    "zone_modules",
    metadata,
    Column("module_id", Text, primary_key=True),
    Column("zone_id", Uuid, ForeignKey("zones.id", ondelete="CASCADE"), nullable=False),
    Index("ix_zone_modules_zone_id", "zone_id"),
)
"""A module is in at most one zone; deleting the zone unassigns its modules."""

module_preferences = Table(
    "module_preferences",
    metadata,
    Column("module_id", Text, primary_key=True),
    Column("preferences", JSONB, nullable=False, server_default="{}"),
    _updated_at(),
)

activity_log = Table(
    "activity_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _timestamp("time", nullable=False),
    Column("level", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("direction", Text),
    Column("module_id", Text),
    Column("message", Text, nullable=False),
    Column("details", JSONB),
    Index("ix_activity_log_time", "time"),
    Index("ix_activity_log_module_time", "module_id", "time"),
)
"""sensorhub's own events worth an operator's eye, served with `device_logs` by `/api/logs`."""

API_MODULE_TABLES = (sensor_config_desired, zone_modules, module_preferences)
"""Rows of one module in the API's tables, deleted with the module (activity history is kept)."""
