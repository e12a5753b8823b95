"""Shapes of the history endpoints, for the OpenAPI document (bodies are encoded by orjson)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from sensorhub.modules.devices.schemas import ModuleStatus
from sensorhub.schemas import ApiModel


class HistoryPoint(ApiModel):
    time: datetime
    value: float


class ModuleData(ApiModel):
    """`GET /api/modules/{id}/data`: the status and the history together."""

    status: ModuleStatus
    sensors: dict[str, list[HistoryPoint]] = Field(description="As `/history`.")


class SeriesColumns(ApiModel):
    """One series, columnar. Buckets: `t`, `min`, `max`, `mean`, `count`; raw: `t`, `v`."""

    t: list[int] = Field(description="Bucket start (or reading time), ms since the epoch, UTC.")
    min: list[float] | None = None
    max: list[float] | None = None
    mean: list[float] | None = None
    count: list[int] | None = Field(default=None, description="Readings in each bucket.")
    v: list[float] | None = Field(default=None, description="Raw values (`raw=true`).")


class Series(ApiModel):
    """`GET /api/modules/{id}/series`."""

    from_: datetime = Field(alias="from")
    to: datetime
    bucket_seconds: int | None = Field(description="Bucket width; null for raw readings.")
    series: dict[str, SeriesColumns] = Field(description="Keyed `hardware:sensorType`.")
    next: str | None = Field(description="Raw only: cursor of the next page; null on the last.")
