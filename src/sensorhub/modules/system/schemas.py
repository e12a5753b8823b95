"""System endpoint payloads."""

from __future__ import annotations

from typing import Literal

from sensorhub.schemas import ApiModel


class Health(ApiModel):
    status: Literal["ok"]


class Readiness(ApiModel):
    status: Literal["ready", "not ready"]
    database: bool
    broker: bool
    timescaledb: bool
