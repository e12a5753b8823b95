"""System endpoint payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from sensorhub.schemas import ApiModel


class Health(ApiModel):
    status: Literal["ok"]


class Readiness(ApiModel):
    status: Literal["ready", "not ready"]
    database: bool
    broker: bool
    timescaledb: bool


class DbSize(ApiModel):
    total_size: str = Field(description="Human-readable, as pg_size_pretty writes it.")
    total_size_bytes: int


class MetricsSample(ApiModel):
    time: datetime
    db_size_bytes: int
    measurement_count: int
    module_count: int
    ingest_rate: float = Field(description="Measurements stored per second since the last sample.")


class MetricsHistory(ApiModel):
    samples: list[MetricsSample] = Field(
        description="Oldest first; at most 500 (averaged over equal time buckets when more)."
    )
    from_: datetime = Field(alias="from")
    to: datetime


class TableSize(ApiModel):
    name: str
    bytes: int = Field(description="Total size with indexes and TOAST (hypertable: all chunks).")
    size: str


class MeasurementStats(ApiModel):
    count: int
    count_is_estimate: bool = Field(description="True above 1M rows: the planner's estimate.")
    oldest: datetime | None
    newest: datetime | None


class TimescalePolicy(ApiModel):
    job_id: int
    kind: str = Field(description="`compression`, `retention`, `refresh_continuous_aggregate`...")
    relation: str
    schedule_interval_seconds: float
    config: dict[str, Any]
    scheduled: bool
    next_start: datetime | None
    last_run_started_at: datetime | None
    last_successful_finish: datetime | None
    last_run_status: str | None
    total_failures: int


class TimescaleDetails(ApiModel):
    hypertable_bytes: int | None
    hypertable_size: str
    chunk_count: int
    compressed_chunk_count: int
    uncompressed_bytes: int = Field(description="Compressed chunks' size before compression.")
    compressed_bytes: int = Field(description="The same chunks after compression.")
    compression_ratio: float | None
    compression_saved_percent: float | None
    policies: list[TimescalePolicy]


class RetentionInfo(ApiModel):
    table: str
    keep_for_seconds: float = Field(description="Rows older than this are deleted (seconds).")
    applied_by: str = Field(description="The retention job, or a TimescaleDB policy.")
    exists: bool = Field(description="False for a table this database does not have yet.")
    oldest: datetime | None = Field(description="Time of the oldest row still stored.")


class StorageReport(ApiModel):
    storage: Literal["timescaledb", "postgresql"]
    timescaledb_version: str | None = Field(description="Installed extension version, if any.")
    database_bytes: int
    database_size: str
    tables: list[TableSize]
    measurements: MeasurementStats
    rollup_pending_buckets: int | None = Field(
        description="Queued (hour, module, sensor) entries waiting for the rollup job."
    )
    retention: list[RetentionInfo] = Field(
        default_factory=list, description="How long each growing table keeps its rows."
    )
    timescaledb: TimescaleDetails | None = Field(
        description="Hypertable, chunks, compression and policies; null on plain PostgreSQL."
    )
