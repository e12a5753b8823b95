"""`/api/logs`: activity log and module log lines, filtered and paged; histogram; delete."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError

from sensorhub.deps import DbDep, WriteAccess
from sensorhub.modules.activity import Category, Event, record, repository
from sensorhub.modules.activity.schemas import HistogramSlot, LogEntry, LogPage, LogsDeleted
from sensorhub.schemas import UNAUTHORIZED, PrintableText

router = APIRouter(prefix="/api/logs", tags=["logs"])

SLOT_SECONDS = 600
"""The histogram's slot: 10 minutes, as the seed's."""
MAX_SLOTS = 7 * 24 * 6 * 5
"""At most 5 weeks of 10-minute slots in one histogram."""


class Level(StrEnum):
    TRACE = "trace"
    DEBUG = "debug"
    SUCCESS = "success"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    FATAL = "fatal"


class Source(StrEnum):
    SYSTEM = "SYSTEM"
    USER = "USER"


class Direction(StrEnum):
    IN = "IN"
    OUT = "OUT"


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def log_filters(
    category: Annotated[list[Category] | None, Query(description="Repeat for several.")] = None,
    level: Annotated[list[Level] | None, Query(description="Repeat for several.")] = None,
    source: Source | None = None,
    direction: Direction | None = None,
    module_id: Annotated[PrintableText | None, Query(alias="moduleId", max_length=200)] = None,
    search: Annotated[
        PrintableText | None, Query(max_length=200, description="In the message, level or details.")
    ] = None,
    start_date: Annotated[datetime | None, Query(alias="startDate")] = None,
    end_date: Annotated[datetime | None, Query(alias="endDate")] = None,
) -> repository.Filters:
    return repository.Filters(
        categories=[c.value for c in category or []],
        levels=[lv.value for lv in level or []],
        source=source.value if source else None,
        direction=direction.value if direction else None,
        module_id=module_id,
        search=search or None,
        start=_utc(start_date),
        end=_utc(end_date),
    )


FiltersDep = Annotated[repository.Filters, Depends(log_filters)]


@router.get("", response_model=LogPage, summary="Log entries, newest first, filtered and paged")
async def get_logs(
    filters: FiltersDep,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> LogPage:
    """sensorhub's own events (`activity_log`) and the modules' `{id}/logs` lines together."""
    rows, total = await repository.page(db.pool, filters, limit, offset)
    return LogPage(
        logs=[LogEntry.model_validate(_entry(row)) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _entry(row: asyncpg.Record) -> dict[str, object]:
    entry = dict(row)
    entry["details"] = json.loads(entry["details"]) if entry["details"] else None
    return entry


@router.get(
    "/histogram",
    response_model=list[HistogramSlot],
    summary="Entries per 10-minute slot and category",
)
async def get_logs_histogram(
    db: DbDep,
    filters: FiltersDep,
    day: Annotated[
        date | None, Query(alias="date", description="A whole UTC day instead of the range.")
    ] = None,
) -> list[HistogramSlot]:
    """Every slot from `startDate` to `endDate` (default: the last 24 hours), empty ones too."""
    if day is not None:
        filters.start = datetime.combine(day, time.min, UTC)
        filters.end = filters.start + timedelta(days=1) - timedelta(microseconds=1)
    elif filters.start is None or filters.end is None:
        filters.end = datetime.now(UTC)
        filters.start = filters.end - timedelta(days=1)
    first = _slot_start(filters.start)
    slots = int((filters.end - first).total_seconds() // SLOT_SECONDS) + 1
    if slots > MAX_SLOTS or slots < 1:
        issue = {"loc": ("query", "endDate"), "msg": "range too long or empty", "type": "value"}
        raise RequestValidationError([issue])
    counts: dict[datetime, dict[str, int]] = {
        first + timedelta(seconds=SLOT_SECONDS * i): {} for i in range(slots)
    }
    for row in await repository.histogram(db.pool, filters, SLOT_SECONDS):
        counts.setdefault(row["slot"], {})[row["category"]] = row["count"]
    return [HistogramSlot(slot=_js_iso(slot), counts=c) for slot, c in sorted(counts.items())]


def _slot_start(moment: datetime) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % SLOT_SECONDS, UTC)


def _js_iso(moment: datetime) -> str:
    """`2026-11-30T20:00:00.000Z`, as JavaScript's `toISOString` writes it."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@router.delete(
    "",
    response_model=LogsDeleted,
    dependencies=[WriteAccess],
    responses=UNAUTHORIZED,
    summary="Delete every log entry (activity and module logs)",
)
async def delete_logs(db: DbDep) -> LogsDeleted:
    """Deletes both tables, then records the deletion itself (one entry remains, by design)."""
    deleted = await repository.delete_all(db.pool)
    await record(
        db.pool, Event.LOGS_DELETED, f"{deleted} log entries deleted", user=True,
        details={"deletedCount": deleted},
    )  # fmt: skip
    return LogsDeleted(message="All logs deleted successfully", deleted_count=deleted)
