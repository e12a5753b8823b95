"""`/api/zones`: create, rename and delete zones; assign modules to them and remove them."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import APIRouter, Response

from sensorhub.deps import DbDep, WriteAccess
from sensorhub.errors import NotFoundError
from sensorhub.modules.activity import Event, record
from sensorhub.modules.devices.params import ModuleId
from sensorhub.modules.devices.repository import module_exists
from sensorhub.modules.zones import repository
from sensorhub.modules.zones.schemas import Zone, ZoneDevice, ZoneIn, ZoneWithDevices
from sensorhub.schemas import NOT_FOUND, UNAUTHORIZED, ActionResult, ErrorBody, Responses

router = APIRouter(tags=["zones"])

ZONE_NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "Unknown zone (or module)"}}


def _zone(row: asyncpg.Record) -> Zone:
    return Zone.model_validate(dict(row))


@router.get("/api/zones", response_model=list[Zone], summary="Every zone, oldest first")
async def list_zones(db: DbDep) -> list[Zone]:
    return [_zone(row) for row in await repository.list_zones(db.pool)]


@router.get(
    "/api/zones/{zone_id}",
    response_model=ZoneWithDevices,
    responses=ZONE_NOT_FOUND,
    summary="One zone with its modules",
)
async def get_zone(zone_id: UUID, db: DbDep) -> ZoneWithDevices:
    row = await repository.get_zone(db.pool, zone_id)
    if row is None:
        raise NotFoundError(f"zone '{zone_id}'")
    devices = [
        ZoneDevice.model_validate(dict(d)) for d in await repository.zone_devices(db.pool, zone_id)
    ]
    return ZoneWithDevices(**_zone(row).model_dump(), devices=devices)


@router.post(
    "/api/zones",
    response_model=Zone,
    status_code=201,
    dependencies=[WriteAccess],
    responses=UNAUTHORIZED,
    summary="Create a zone",
)
async def create_zone(body: ZoneIn, db: DbDep) -> Zone:
    zone = _zone(await repository.create_zone(db.pool, body.name, body.description))
    await record(
        db.pool, Event.ZONE_CREATED, f"zone {zone.name!r} created", user=True,
        details={"zoneId": str(zone.id), "zoneName": zone.name},
    )  # fmt: skip
    return zone


@router.put(
    "/api/zones/{zone_id}",
    response_model=Zone,
    dependencies=[WriteAccess],
    responses={**ZONE_NOT_FOUND, **UNAUTHORIZED},
    summary="Rename a zone (and change its description when one is given)",
)
async def update_zone(zone_id: UUID, body: ZoneIn, db: DbDep) -> Zone:
    row = await repository.update_zone(db.pool, zone_id, body.name, body.description)
    if row is None:
        raise NotFoundError(f"zone '{zone_id}'")
    zone = _zone(row)
    await record(
        db.pool, Event.ZONE_UPDATED, f"zone {zone.name!r} updated", user=True,
        details={"zoneId": str(zone.id), "zoneName": zone.name},
    )  # fmt: skip
    return zone


@router.delete(
    "/api/zones/{zone_id}",
    status_code=204,
    response_class=Response,
    dependencies=[WriteAccess],
    responses={**ZONE_NOT_FOUND, **UNAUTHORIZED},
    summary="Delete a zone; its modules become unassigned",
)
async def delete_zone(zone_id: UUID, db: DbDep) -> Response:
    name = await repository.delete_zone(db.pool, zone_id)
    if name is None:
        raise NotFoundError(f"zone '{zone_id}'")
    await record(
        db.pool, Event.ZONE_DELETED, f"zone {name!r} deleted", user=True,
        details={"zoneId": str(zone_id), "zoneName": name},
    )  # fmt: skip
    return Response(status_code=204)


@router.post(
    "/api/zones/{zone_id}/devices/{module_id}",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={**ZONE_NOT_FOUND, **UNAUTHORIZED},
    summary="Put a module in this zone (out of any other)",
)
async def assign_module(zone_id: UUID, module_id: ModuleId, db: DbDep) -> ActionResult:
    zone = await repository.get_zone(db.pool, zone_id)
    if zone is None:
        raise NotFoundError(f"zone '{zone_id}'")
    if not await module_exists(db.pool, module_id):
        raise NotFoundError(f"module {module_id!r}")
    await repository.assign(db.pool, zone_id, module_id)
    await record(
        db.pool, Event.ZONE_MODULE_ASSIGNED, f"{module_id} assigned to zone {zone['name']!r}",
        module_id=module_id, user=True, details={"zoneId": str(zone_id), "zoneName": zone["name"]},
    )  # fmt: skip
    return ActionResult(success=True, message=f"Device {module_id} assigned to zone {zone_id}")


@router.delete(
    "/api/zones/{zone_id}/devices/{module_id}",
    status_code=204,
    response_class=Response,
    dependencies=[WriteAccess],
    responses={**ZONE_NOT_FOUND, **UNAUTHORIZED},
    summary="Take a module out of this zone",
)
async def remove_module_from_zone(zone_id: UUID, module_id: ModuleId, db: DbDep) -> Response:
    if await repository.unassign(db.pool, module_id, zone_id):
        await _removed(db.pool, module_id, zone_id)
    return Response(status_code=204)


@router.delete(
    "/api/modules/{module_id}/zone",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={**NOT_FOUND, **UNAUTHORIZED},
    summary="Take a module out of its zone",
    tags=["zones"],
)
async def remove_module_zone(module_id: ModuleId, db: DbDep) -> ActionResult:
    if not await module_exists(db.pool, module_id):
        raise NotFoundError(f"module {module_id!r}")
    if await repository.unassign(db.pool, module_id):
        await _removed(db.pool, module_id, None)
    return ActionResult(success=True, message="Device removed from zone")


async def _removed(pool: asyncpg.Pool, module_id: str, zone_id: UUID | None) -> None:
    details = {"zoneId": str(zone_id)} if zone_id else None
    await record(
        pool, Event.ZONE_MODULE_REMOVED, f"{module_id} removed from its zone",
        module_id=module_id, user=True, details=details,
    )  # fmt: skip
