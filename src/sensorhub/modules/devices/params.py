"""Path and query parameters shared by the module endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from sensorhub.ingest.topics import MAX_LEVEL_LENGTH


def _check_module_id(module_id: str) -> str:
    """What ingest accepts as a topic level: printable (no C0/C1 controls, unassigned code points
    or surrogates, which the broker refuses in topics), no surrounding whitespace."""
    if not module_id.isprintable() or module_id != module_id.strip():
        raise ValueError("not a module id: printable characters, no surrounding whitespace")
    return module_id


ModuleId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_LEVEL_LENGTH,
        pattern=r"^[^\x00-\x1f\x7f/+#]+$",
        description="The module id (the first topic level).",
    ),
    AfterValidator(_check_module_id),
]


@dataclass(frozen=True)
class Window:
    """A time range [start, end) in UTC."""

    start: datetime
    end: datetime


def invalid(field: str, message: str, where: str = "query") -> RequestValidationError:
    """A 422 naming `where.field`, like Pydantic's own validation errors."""
    issue = {"loc": (where, field), "msg": message, "type": "value_error"}
    return RequestValidationError([issue])


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise invalid(field, "out of the supported date range") from None


def time_window(
    days: Annotated[
        float | None,
        Query(gt=0, le=3650, description="Range ending at `to` (default now); 1 by default."),
    ] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="Start, ISO 8601 (UTC if no offset).")
    ] = None,
    to: Annotated[datetime | None, Query(description="End, ISO 8601; default now.")] = None,
) -> Window:
    """The time range: `from`/`to` when given, else the `days` before `to` (or now)."""
    end = _utc(to, "to") or datetime.now(UTC)
    start = _utc(from_, "from")
    if start is None:
        try:
            start = end - timedelta(days=days if days is not None else 1)
        except OverflowError:
            start = datetime.min.replace(tzinfo=UTC)
    if start >= end:
        raise invalid("from", "must be before `to`")
    return Window(start, end)


WindowDep = Annotated[Window, Depends(time_window)]
