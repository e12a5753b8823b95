"""`/api/logs` payloads, as the seed's logs page reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from sensorhub.schemas import ApiModel


class LogEntry(ApiModel):
    id: str = Field(description="`a…` for sensorhub's own events, `d…` for module log lines.")
    category: str = Field(description="HARDWARE, MQTT, DB, API, WEBSOCKET or SYSTEM.")
    source: str = Field(description="USER for an operator's action through the API, else SYSTEM.")
    direction: str | None = Field(description="IN or OUT for MQTT traffic, else null.")
    level: str
    msg: str
    time: datetime
    details: dict[str, Any] | None = Field(description="`moduleId`, `event` and event details.")


class LogPage(ApiModel):
    logs: list[LogEntry]
    total: int = Field(description="Entries matching the filters, over all pages.")
    limit: int
    offset: int


class HistogramSlot(ApiModel):
    slot: str = Field(description="Start of the 10-minute slot, ISO 8601 UTC with milliseconds.")
    counts: dict[str, int] = Field(description="Entries per category in the slot.")


class LogsDeleted(ApiModel):
    message: str
    deleted_count: int
