"""Zone payloads, as the seed's dashboard reads and sends them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, ConfigDict, Field

from sensorhub.schemas import ApiModel, PrintableText


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


Name = Annotated[PrintableText, Field(min_length=1, max_length=100), AfterValidator(_not_blank)]
Description = Annotated[PrintableText, Field(max_length=1_000), AfterValidator(_not_blank)]


class ZoneIn(ApiModel):
    """`{"name": "Greenhouse", "description": null}`."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None


class Zone(ApiModel):
    id: UUID
    name: str
    description: str | None
    created_at: datetime | None


class ZoneDevice(ApiModel):
    module_id: str
    name: str | None
    module_type: str | None


class ZoneWithDevices(Zone):
    devices: list[ZoneDevice]
