"""`/api/modules`: the known modules, their status, storage, and deletion."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter

from sensorhub.deps import DbDep, MqttDep, TimescaleDep, WriteAccess
from sensorhub.errors import NotFoundError
from sensorhub.modules.activity import Event, record
from sensorhub.modules.devices import repository
from sensorhub.modules.devices.configuration import config_topic
from sensorhub.modules.devices.params import ModuleId
from sensorhub.modules.devices.schemas import (
    ActiveSensor,
    Chip,
    Flash,
    HardwareInfo,
    Memory,
    ModuleStatus,
    ModuleStorage,
    ModuleSummary,
    SensorsConfig,
    SensorSetting,
    SensorState,
    SystemInfo,
)
from sensorhub.plugins.db import Database
from sensorhub.schemas import NOT_FOUND, UNAUTHORIZED, ActionResult

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/modules", tags=["modules"])

UNKNOWN_TYPE = "unknown"


@router.get("", response_model=list[ModuleSummary], summary="Every known module")
async def list_modules(db: DbDep, timescale: TimescaleDep) -> list[ModuleSummary]:
    """Modules with a status row (seen at least once), as the seed lists them, with more fields."""
    rows = await repository.list_modules(db.pool, timescale=timescale)
    return [
        ModuleSummary(
            id=row["module_id"],
            name=row["name"] or row["module_id"],
            type=row["module_type"] or UNKNOWN_TYPE,
            last_seen=row["last_seen"],
            online=row["online"],
            sensors=list(row["sensors"]),
            zone_id=row["zone_id"],
        )
        for row in rows
    ]


def _settings(sensors: dict[str, dict[str, object]]) -> dict[str, SensorSetting]:
    return {key: SensorSetting.model_validate(value) for key, value in sensors.items()}


async def module_status(db: Database, module_id: str) -> ModuleStatus:
    """The status as the seed's dashboard reads it; raises 404 for an unknown module."""
    rows = await repository.module_status(db.pool, module_id)
    if rows is None:
        raise NotFoundError(f"module {module_id!r}")
    s, hardware, shadow = rows.system, rows.hardware, rows.shadow
    return ModuleStatus(
        id=module_id,
        name=s["name"],
        module_type=s["module_type"],
        zone_name=s["zone_name"],
        online=s["online"],
        last_seen=s["last_seen"],
        system=SystemInfo(
            ip=s["ip"],
            mac=s["mac"],
            booted_at=s["booted_at"],
            rssi=s["rssi"],
            flash=Flash(
                used_kb=s["flash_used_kb"],
                free_kb=s["flash_free_kb"],
                system_kb=s["flash_total_kb"]
                if s["flash_total_kb"] is not None
                else s["flash_system_kb"],
                total_kb=s["flash_total_kb"],
            ),
            memory=Memory(
                heap_total_kb=s["heap_total_kb"],
                heap_free_kb=s["heap_free_kb"],
                heap_min_free_kb=s["heap_min_free_kb"],
            ),
        ),
        hardware=None
        if hardware is None
        else HardwareInfo(
            chip=Chip(
                model=hardware["chip_model"],
                rev=hardware["chip_rev"],
                cpu_freq_mhz=hardware["cpu_freq_mhz"],
                flash_kb=hardware["flash_kb"],
                cores=hardware["cores"],
            )
        ),
        sensors={
            row["sensor_type"]: SensorState(status=row["status"] or "unknown", value=row["value"])
            for row in rows.sensors
        },
        sensors_config=SensorsConfig(
            sensors=_settings(shadow.effective()),
            desired=_settings(shadow.desired),
            reported=_settings(shadow.reported),
            in_sync=shadow.in_sync,
            pending=shadow.pending,
        ),
        preferences=json.loads(s["preferences"]),  # jsonb arrives as text
    )


@router.get(
    "/{module_id}/status",
    response_model=ModuleStatus,
    responses=NOT_FOUND,
    summary="System, hardware, sensor status, configuration, zone and preferences of one module",
)
async def get_module_status(module_id: ModuleId, db: DbDep) -> ModuleStatus:
    return await module_status(db, module_id)


@router.get(
    "/{module_id}/storage",
    response_model=ModuleStorage,
    responses=NOT_FOUND,
    summary="Readings stored for one module, and its configured sensors with their intervals",
)
async def get_module_storage(module_id: ModuleId, db: DbDep) -> ModuleStorage:
    """Exact counts (proportional to the module's rows); size from the table's bytes per row.

    `activeSensors` lists the configured sensor keys (desired, else reported interval) with the
    readings stored under them: a `hardware:type` key counts that hardware's series, a plain
    type counts every hardware's.
    """
    rows = await repository.module_storage(db.pool, module_id)
    if rows is None:
        raise NotFoundError(f"module {module_id!r}")
    total = sum(row["rows"] for row in rows.counts)
    per_key: dict[str, int] = {}
    for row in rows.counts:
        per_key[f"{row['hardware_id']}:{row['sensor_type']}"] = row["rows"]
        per_key[row["sensor_type"]] = per_key.get(row["sensor_type"], 0) + row["rows"]
    return ModuleStorage(
        row_count=total,
        estimated_size_bytes=round(total * rows.bytes_per_row),
        oldest_measurement=min((row["oldest"] for row in rows.counts), default=None),
        newest_measurement=max((row["newest"] for row in rows.counts), default=None),
        active_sensors=[
            ActiveSensor(
                sensor_type=key,
                interval_seconds=setting.get("interval"),
                row_count=per_key.get(key, 0),
            )
            for key, setting in rows.shadow.effective().items()
        ],
    )


@router.delete(
    "/{module_id}",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={**NOT_FOUND, **UNAUTHORIZED},
    summary="Delete a module and all its data",
)
async def delete_module(module_id: ModuleId, db: DbDep, mqtt: MqttDep) -> ActionResult:
    if not await repository.delete_module(db.pool, module_id):
        raise NotFoundError(f"module {module_id!r}")
    message = f"module {module_id!r} and all its data deleted"
    try:
        # An empty retained message removes the retained configuration from the broker.
        await mqtt.publish(config_topic(module_id), b"", qos=1, retain=True)
    except ConnectionError as error:
        logger.warning("could not clear the retained configuration of %s: %s", module_id, error)
        message += "; its retained configuration could not be cleared (broker not connected)"
    await record(db.pool, Event.MODULE_DELETED, message, module_id=module_id, user=True)
    return ActionResult(success=True, message=message)
