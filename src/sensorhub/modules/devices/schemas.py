"""Module endpoint payloads, shaped as the seed's dashboard reads them (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field

from sensorhub.ingest.topics import MAX_LEVEL_LENGTH, is_valid_id
from sensorhub.schemas import ApiModel, PrintableText


class ModuleSummary(ApiModel):
    """One entry of `GET /api/modules` (the seed's `{id, name, type, status}` and more)."""

    id: str
    name: str = Field(description="The stored name, else the module id.")
    type: str = Field(description="The `moduleType` it reported, else `unknown`.")
    status: None = Field(default=None, description="Always null (kept for the seed's shape).")
    last_seen: datetime | None
    online: bool = Field(
        description="Seen within 3x its slowest configured sensor interval (5 min without config)."
    )
    sensors: list[str] = Field(
        description="Sensor types with a status, a configuration or measurements in the last day."
    )
    zone_id: str | None = Field(default=None, description="The zone it is assigned to, if any.")


class Flash(ApiModel):
    """Flash sizes in KiB. `systemKb` is the module's total flash as the seed's dashboard reads it
    (its firmware reports `flash.totalKb`, older firmware `flash.systemKb`)."""

    used_kb: int | None = None
    free_kb: int | None = None
    system_kb: int | None = None
    total_kb: int | None = None


class Memory(ApiModel):
    heap_total_kb: int | None = None
    heap_free_kb: int | None = None
    heap_min_free_kb: int | None = None


class SystemInfo(ApiModel):
    ip: str | None = None
    mac: str | None = None
    booted_at: datetime | None = None
    rssi: int | None = Field(default=None, description="Wi-Fi signal, dBm.")
    flash: Flash
    memory: Memory


class Chip(ApiModel):
    model: str | None = None
    rev: int | None = None
    cpu_freq_mhz: int | None = None
    flash_kb: int | None = None
    cores: int | None = None


class HardwareInfo(ApiModel):
    chip: Chip


class SensorState(ApiModel):
    status: str = Field(description="Last reported status; `unknown` when none was reported.")
    value: float | None = None


class SensorSetting(ApiModel):
    interval: int | None = Field(default=None, description="Seconds between readings.")
    model: str | None = None
    enabled: bool | None = Field(
        default=None,
        description="Reported side only: whether the firmware runs the sensor "
        "(`sensors/config` `enabled`); switched through `POST …/hardware/enable`. "
        "Left out when the firmware does not say.",
        exclude_if=lambda enabled: enabled is None,
    )


class SensorsConfig(ApiModel):
    """Configuration per sensor key, both sides of the device shadow (issue 12 item 5)."""

    sensors: dict[str, SensorSetting] = Field(
        description="What the dashboard shows: the desired value where one is set, else reported."
    )
    desired: dict[str, SensorSetting] = Field(
        description="Set through the API; published retained to `{id}/sensors/config`."
    )
    reported: dict[str, SensorSetting] = Field(
        description="What the module last reported on `{id}/sensors/config`."
    )
    in_sync: bool = Field(description="Every desired field is what the module reported.")
    pending: list[str] = Field(description="Desired sensor keys not (yet) reported as set.")


class ModuleStatus(ApiModel):
    """`GET /api/modules/{id}/status`, the seed's `DeviceStatus` plus `id`, `name`, `online`."""

    id: str
    name: str | None = None
    module_type: str | None = Field(description="`moduleType` from `system/config`.")
    zone_name: str | None = None
    online: bool
    last_seen: datetime | None = None
    system: SystemInfo
    hardware: HardwareInfo | None = Field(description="Null until the module reports hardware.")
    sensors: dict[str, SensorState] = Field(description="Last reported status per sensor key.")
    sensors_config: SensorsConfig
    preferences: dict[str, Any] = Field(description="Dashboard preferences (free-form JSON).")


class ConfigState(ApiModel):
    """`GET /api/modules/{id}/config`: both sides of the configuration and whether they agree."""

    module_id: str
    desired: dict[str, SensorSetting]
    reported: dict[str, SensorSetting]
    in_sync: bool
    pending: list[str]


def _check_sensor_key(name: str) -> str:
    if not is_valid_id(name):
        raise ValueError(
            "not a valid sensor key (one topic level: no '/', '+', '#', control characters, "
            f"surrounding spaces or reserved names, at most {MAX_LEVEL_LENGTH} characters)"
        )
    return name


SensorKey = Annotated[str, AfterValidator(_check_sensor_key)]


class SensorSettingIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    interval: int | None = Field(
        default=None, ge=1, le=86_400, description="Seconds between readings; left out: unchanged."
    )
    model: PrintableText | None = Field(
        default=None, min_length=1, max_length=64, description="Left out: unchanged."
    )


class ConfigUpdate(ApiModel):
    """`{"sensors": {"co2": {"interval": 60}, "dht22:temperature": {"interval": 30}}}`."""

    model_config = ConfigDict(extra="forbid")

    sensors: dict[SensorKey, SensorSettingIn] = Field(default_factory=dict, max_length=100)


class SensorReset(ApiModel):
    model_config = ConfigDict(extra="forbid")

    sensor: SensorKey = Field(description="Sensor key to reset, or `all`.")


class HardwareEnable(ApiModel):
    model_config = ConfigDict(extra="forbid")

    hardware: SensorKey = Field(description="Hardware key, e.g. `dht22`.")
    enabled: bool


class PreferencesResult(ApiModel):
    success: bool
    message: str
    preferences: dict[str, Any] = Field(description="The module's preferences after the merge.")


class ActiveSensor(ApiModel):
    sensor_type: str
    interval_seconds: int | None
    row_count: int


class ModuleStorage(ApiModel):
    """`GET /api/modules/{id}/storage`: what the module's readings take."""

    row_count: int
    estimated_size_bytes: int = Field(
        description="Row count times the average stored bytes per row."
    )
    oldest_measurement: datetime | None
    newest_measurement: datetime | None
    active_sensors: list[ActiveSensor]
