"""`/api/modules`: the known modules, their status and history, configuration and deletion."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from sensorhub.deps import DbDep, RuntimeDep, WriteAccess
from sensorhub.errors import NotFoundError
from sensorhub.ingest.topics import MAX_LEVEL_LENGTH
from sensorhub.modules.devices import repository
from sensorhub.modules.devices.configuration import config_payload, config_topic
from sensorhub.modules.devices.schemas import (
    ActionResult,
    ConfigUpdate,
    ErrorBody,
    Hardware,
    History,
    ModuleData,
    ModuleStatus,
    ModuleSummary,
    Resolution,
    SensorSettingOut,
    SensorState,
    SystemStatus,
)
from sensorhub.plugins.db import Database

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/modules", tags=["modules"])

RAW_MAX = timedelta(days=1)
MINUTE_MAX = timedelta(days=7)

ModuleId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_LEVEL_LENGTH,
        pattern=r"^[^\x00-\x1f\x7f/+#]+$",
        description="The module id (the first topic level).",
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown module"}
}

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"}
}


@dataclass(frozen=True)
class HistoryWindow:
    start: datetime
    end: datetime
    limit: int

    @property
    def resolution(self) -> Resolution:
        span = self.end - self.start
        if span <= RAW_MAX:
            return "raw"
        return "minute" if span <= MINUTE_MAX else "hour"


def _invalid(field: str, message: str) -> RequestValidationError:
    issue = {"loc": ("query", field), "msg": message, "type": "value_error"}
    return RequestValidationError([issue])


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise _invalid(field, "out of the supported date range") from None


def history_window(
    days: Annotated[
        float | None,
        Query(gt=0, le=3650, description="Range ending at `to` (default now); 1 by default."),
    ] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="Start, ISO 8601 (UTC if no offset).")
    ] = None,
    to: Annotated[datetime | None, Query(description="End, ISO 8601; default now.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=100_000, description="At most this many newest points per sensor.")
    ] = 10_000,
) -> HistoryWindow:
    """The time range: `from`/`to` when given, else the `days` before `to` (or now)."""
    end = _utc(to, "to") or datetime.now(UTC)
    start = _utc(from_, "from")
    if start is None:
        try:
            start = end - timedelta(days=days if days is not None else 1)
        except OverflowError:
            start = datetime.min.replace(tzinfo=UTC)
    if start >= end:
        raise _invalid("from", "must be before `to`")
    return HistoryWindow(start, end, limit)


HistoryWindowDep = Annotated[HistoryWindow, Depends(history_window)]


@router.get("", response_model=list[ModuleSummary], summary="Every known module")
async def list_modules(db: DbDep, runtime: RuntimeDep) -> list[ModuleSummary]:
    rows = await repository.list_modules(db.pool, timescale=runtime.timescale)
    return [
        ModuleSummary(
            id=row["module_id"],
            name=row["name"],
            type=row["module_type"],
            last_seen=row["last_seen"],
            online=row["online"],
            sensors=list(row["sensors"]),
        )
        for row in rows
    ]


async def _status(db: Database, module_id: str) -> ModuleStatus:
    rows = await repository.module_status(db.pool, module_id)
    if rows is None:
        raise NotFoundError(f"module {module_id!r}")
    return ModuleStatus(
        id=module_id,
        system=SystemStatus.model_validate(dict(rows.system)),
        hardware=Hardware.model_validate(dict(rows.hardware)) if rows.hardware else None,
        sensors={row["sensor_type"]: SensorState.model_validate(dict(row)) for row in rows.sensors},
        config={
            sensor: SensorSettingOut.model_validate(setting)
            for sensor, setting in repository.sensor_config(rows.config).items()
        },
    )


async def _history_json(db: Database, module_id: str, window: HistoryWindow) -> str:
    """The history fields as JSON text; PostgreSQL builds the point arrays (100k points fast)."""
    resolution = window.resolution
    sensors = await repository.history(
        db.pool, module_id, window.start, window.end, resolution, window.limit
    )
    by_type = ",".join(f"{json.dumps(sensor)}:{points}" for sensor, points in sensors)
    bounds = {"resolution": resolution, "from": _iso(window.start), "to": _iso(window.end)}
    rest = json.dumps(bounds)
    return f'{{"sensors":{{{by_type}}},{rest[1:]}'


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@router.get(
    "/{module_id}/status",
    response_model=ModuleStatus,
    responses=NOT_FOUND,
    summary="System, hardware, sensor status and configuration of one module",
)
async def get_module_status(module_id: ModuleId, db: DbDep) -> ModuleStatus:
    return await _status(db, module_id)


@router.get(
    "/{module_id}/history",
    response_model=History,
    responses=NOT_FOUND,
    summary="Readings per sensor type: raw up to 1 day, minute averages to 7 days, hourly beyond",
)
async def get_module_history(module_id: ModuleId, window: HistoryWindowDep, db: DbDep) -> Response:
    if not await repository.module_exists(db.pool, module_id):
        raise NotFoundError(f"module {module_id!r}")
    return Response(await _history_json(db, module_id, window), media_type="application/json")


@router.get(
    "/{module_id}/data",
    response_model=ModuleData,
    responses=NOT_FOUND,
    summary="Status and history of one module",
)
async def get_module_data(module_id: ModuleId, window: HistoryWindowDep, db: DbDep) -> Response:
    status = await _status(db, module_id)
    history = await _history_json(db, module_id, window)
    body = f'{{"status":{status.model_dump_json(by_alias=True)},{history[1:]}'
    return Response(body, media_type="application/json")


@router.post(
    "/{module_id}/config",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={
        **NOT_FOUND,
        **UNAUTHORIZED,
        503: {"model": ErrorBody, "description": "Stored; broker not connected, sent on reconnect"},
    },
    summary="Store sensor configuration and publish it, retained, to the module",
)
async def update_module_config(
    module_id: ModuleId, body: ConfigUpdate, runtime: RuntimeDep
) -> ActionResult:
    requested = {name: (s.interval, s.model) for name, s in body.sensors.items()}
    sensors = await repository.update_config(runtime.db.pool, module_id, requested)
    if sensors is None:
        raise NotFoundError(f"module {module_id!r}")
    if runtime.socketio is not None:
        runtime.socketio.publish_config_update(module_id, {"sensors": sensors})
    try:
        if runtime.mqtt is None:
            raise ConnectionError("MQTT not started")
        await runtime.mqtt.publish(
            config_topic(module_id), config_payload(sensors), qos=1, retain=True
        )
    except ConnectionError as error:
        logger.warning("configuration of %s stored but not published: %s", module_id, error)
        raise HTTPException(
            503,
            "configuration stored, but the MQTT broker is not connected; "
            "it will be published when the connection is back",
        ) from error
    return ActionResult(
        success=True,
        message=f"configuration of {len(requested)} sensor(s) stored and published "
        f"to {config_topic(module_id)}",
    )


@router.delete(
    "/{module_id}",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={**NOT_FOUND, **UNAUTHORIZED},
    summary="Delete a module and all its data",
)
async def delete_module(module_id: ModuleId, runtime: RuntimeDep) -> ActionResult:
    if not await repository.delete_module(runtime.db.pool, module_id):
        raise NotFoundError(f"module {module_id!r}")
    message = f"module {module_id!r} and all its data deleted"
    try:
        if runtime.mqtt is None:
            raise ConnectionError("MQTT not started")
        # An empty retained message removes the retained configuration from the broker.
        await runtime.mqtt.publish(config_topic(module_id), b"", qos=1, retain=True)
    except ConnectionError as error:
        logger.warning("could not clear the retained configuration of %s: %s", module_id, error)
        message += "; its retained configuration could not be cleared (broker not connected)"
    return ActionResult(success=True, message=message)
