"""`/api/modules/types`: module types and their manifests (hardware, sensors, actions).

A manifest is a JSON file in `manifests/` named after its id; it describes what a module type
carries, for dashboards (labels, units, display ranges). It does not drive validation.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Literal

from fastapi import APIRouter, Path

from sensorhub.errors import NotFoundError
from sensorhub.schemas import ApiModel, ErrorBody

router = APIRouter(prefix="/api/modules/types", tags=["modules"])


class HardwareDef(ApiModel):
    key: str
    name: str
    type: Literal["sensor", "actuator"]
    sensors: list[str]


class Range(ApiModel):
    min: float
    max: float


class SensorDef(ApiModel):
    key: str
    label: str
    unit: str
    range: Range


class ActionDef(ApiModel):
    id: str
    label: str
    icon: str
    scope: Literal["sensor", "hardware", "device"]


class ModuleType(ApiModel):
    id: str
    name: str
    version: str


class Manifest(ModuleType):
    hardware: list[HardwareDef]
    sensors: list[SensorDef]
    actions: list[ActionDef]


@cache
def manifests() -> dict[str, Manifest]:
    """Every manifest shipped with sensorhub, by id (read and validated once)."""
    folder = resources.files("sensorhub.modules.devices") / "manifests"
    found: dict[str, Manifest] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            manifest = Manifest.model_validate(json.loads(entry.read_text(encoding="utf-8")))
            found[manifest.id] = manifest
    return found


@router.get("", response_model=list[ModuleType], summary="Every known module type")
async def list_module_types() -> list[ModuleType]:
    return [ModuleType(id=m.id, name=m.name, version=m.version) for m in manifests().values()]


@router.get(
    "/{module_type}/manifest",
    response_model=Manifest,
    responses={404: {"model": ErrorBody, "description": "Unknown module type"}},
    summary="Hardware, sensors and actions of one module type",
)
async def get_module_type_manifest(
    module_type: str = Path(max_length=100, description="e.g. `air-quality`."),
) -> Manifest:
    manifest = manifests().get(module_type)
    if manifest is None:
        raise NotFoundError(f"module type {module_type!r}")
    return manifest
