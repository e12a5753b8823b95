"""Module endpoint payloads: snake_case here, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from sensorhub.ingest.topics import MAX_LEVEL_LENGTH, is_valid_id
from sensorhub.schemas import ApiModel

Resolution = Literal["raw", "minute", "hour"]


class ModuleSummary(ApiModel):
    id: str
    name: str | None
    type: str | None = Field(description="The module type it reported (`moduleType`), if any.")
    last_seen: datetime | None
    online: bool = Field(
        description="Seen within 3x its slowest configured sensor interval (5 min without config)."
    )
    sensors: list[str] = Field(
        description="Sensor types with a status, a configuration or measurements in the last day."
    )


class SystemStatus(ApiModel):
    name: str | None = None
    module_type: str | None = None
    rssi: int | None = None
    heap_free_kb: int | None = None
    heap_min_free_kb: int | None = None
    heap_total_kb: int | None = None
    ip: str | None = None
    mac: str | None = None
    uptime_start: str | None = None
    booted_at: datetime | None = None
    flash_used_kb: int | None = None
    flash_free_kb: int | None = None
    flash_system_kb: int | None = None
    last_seen: datetime | None = None
    online: bool
    updated_at: datetime


class Hardware(ApiModel):
    chip_model: str | None = None
    chip_rev: int | None = None
    cpu_freq_mhz: int | None = None
    flash_kb: int | None = None
    cores: int | None = None
    updated_at: datetime


class SensorState(ApiModel):
    status: str | None = None
    value: float | None = None
    updated_at: datetime


class SensorSettingOut(ApiModel):
    interval: int | None = None
    model: str | None = None


class ModuleStatus(ApiModel):
    id: str
    system: SystemStatus
    hardware: Hardware | None = Field(description="Null until the module reports hardware/config.")
    sensors: dict[str, SensorState] = Field(description="Last reported status per sensor type.")
    config: dict[str, SensorSettingOut] = Field(description="Stored configuration per sensor type.")
    preferences: dict[str, Any] = Field(
        default_factory=dict,
        description="Reserved for dashboard preferences; always empty (no storage yet).",
    )


class HistoryPoint(ApiModel):
    time: datetime
    value: float


class History(ApiModel):
    """Readings per sensor type, oldest first.

    Several hardware ids publishing the same sensor type are averaged: readings with the same
    timestamp at `raw` resolution, everything in the bucket at `minute` and `hour`.
    """

    sensors: dict[str, list[HistoryPoint]]
    resolution: Resolution = Field(
        description="`raw` for ranges up to 1 day, `minute` averages up to 7 days, `hour` beyond."
    )
    from_: datetime = Field(alias="from")
    to: datetime


class ModuleData(History):
    status: ModuleStatus


def _check_sensor_type(name: str) -> str:
    if not is_valid_id(name):
        raise ValueError(
            "not a valid sensor type (one topic level: no '/', '+', '#', control characters, "
            f"surrounding spaces or reserved names, at most {MAX_LEVEL_LENGTH} characters)"
        )
    return name


SensorType = Annotated[str, AfterValidator(_check_sensor_type)]


def _check_printable(text: str) -> str:
    if not text.isprintable():
        raise ValueError("control or non-printable characters are not allowed")
    return text


class SensorSetting(ApiModel):
    model_config = ConfigDict(extra="forbid")

    interval: int = Field(ge=1, le=86_400, description="Seconds between readings.")
    model: Annotated[str, AfterValidator(_check_printable)] | None = Field(
        default=None, min_length=1, max_length=64
    )


class ConfigUpdate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    sensors: dict[SensorType, SensorSetting] = Field(min_length=1, max_length=100)


class ActionResult(ApiModel):
    success: bool
    message: str


class ErrorBody(ApiModel):
    error: str
    status: int
