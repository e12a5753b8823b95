"""Readings of one module: the seed's `/history` and `/data`, and chart-resolution `/series`.

Every series is one hardware id and sensor type (`dht22:temperature`), never merged with another
sensor of the same type (issue 12 item 7). Bodies are encoded by orjson from binary rows; raw
pages embed the JSON number text PostgreSQL writes (`history_raw`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from sensorhub.deps import DbDep, TimescaleDep
from sensorhub.errors import NotFoundError
from sensorhub.modules.devices import history_raw, history_sql, repository
from sensorhub.modules.devices import history_repository as history
from sensorhub.modules.devices.history_schemas import HistoryPoint, ModuleData, Series
from sensorhub.modules.devices.params import ModuleId, Window, WindowDep, invalid
from sensorhub.modules.devices.routes import module_status
from sensorhub.plugins.db import Database
from sensorhub.schemas import NOT_FOUND

router = APIRouter(prefix="/api/modules", tags=["modules"])

RAW_MAX = timedelta(days=1)
HOURLY_FROM = timedelta(days=7)
DEFAULT_POINTS = 500
MAX_POINTS = 5_000
DEFAULT_RAW_LIMIT = 10_000
MAX_RAW_LIMIT = 100_000
JSON = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def history_step(window: Window) -> history.Step:
    """The seed's rule: raw up to 1 day, minute averages below 7 days, hourly from 7 days on."""
    span = window.end - window.start
    if span <= RAW_MAX:
        return "raw"
    return "minute" if span < HOURLY_FROM else "hour"


async def _history(db: Database, module_id: str, window: Window, timescale: bool) -> dict[str, Any]:
    return await history.history_points(
        db.pool, module_id, window.start, window.end, history_step(window), timescale=timescale
    )


async def _require(db: Database, module_id: str) -> None:
    if not await repository.module_exists(db.pool, module_id):
        raise NotFoundError(f"module {module_id!r}")


@router.get(
    "/{module_id}/history",
    response_model=dict[str, list[HistoryPoint]],
    responses=NOT_FOUND,
    summary="Readings per `hardware:sensorType` over the whole range (the seed's shape)",
)
async def get_module_history(
    module_id: ModuleId, window: WindowDep, db: DbDep, timescale: TimescaleDep
) -> Response:
    """`{"dht22:temperature": [{"time": "...Z", "value": 21.5}, ...]}`, newest first (as Node).

    Raw readings for ranges up to 1 day, 1-minute averages below 7 days, hourly averages from
    7 days on (as the seed's backend). The whole range, never a truncated tail; for charts over
    long ranges use `/series`, which bounds the number of points.
    """
    await _require(db, module_id)
    body = await _history(db, module_id, window, timescale)
    return Response(orjson.dumps(body, option=JSON), media_type="application/json")


@router.get(
    "/{module_id}/data",
    response_model=ModuleData,
    responses=NOT_FOUND,
    summary="Status and history of one module (the seed's legacy endpoint)",
)
async def get_module_data(
    module_id: ModuleId, window: WindowDep, db: DbDep, timescale: TimescaleDep
) -> Response:
    status = await module_status(db, module_id)
    body = {"status": status.model_dump(mode="json", by_alias=True)}
    body["sensors"] = await _history(db, module_id, window, timescale)
    return Response(orjson.dumps(body, option=JSON), media_type="application/json")


@router.get(
    "/{module_id}/series",
    response_model=Series,
    responses=NOT_FOUND,
    summary="Chart-resolution series: min, max, mean per bucket over the whole range",
)
async def get_module_series(
    request: Request,
    module_id: ModuleId,
    window: WindowDep,
    db: DbDep,
    timescale: TimescaleDep,
    points: Annotated[
        int,
        Query(ge=1, le=MAX_POINTS, description="At most this many buckets per series."),
    ] = DEFAULT_POINTS,
    raw: Annotated[
        bool, Query(description="Raw readings instead of buckets, paged with `limit`/`cursor`.")
    ] = False,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RAW_LIMIT, description="Raw only: readings per page.")
    ] = DEFAULT_RAW_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=1_000, description="Raw only: `next` of the previous page."),
    ] = None,
) -> Response:
    """Columnar series per `hardware:sensorType`, times in milliseconds since the epoch.

    Buckets (default): the range is cut into at most `points` buckets `bucketSeconds` wide, and
    each series gets `{"t", "min", "max", "mean", "count"}` arrays (buckets without readings are
    left out). Buckets are aligned on `from`; from half a minute on they are whole minutes. With
    `days` instead of `from`, the range starts on the minute (`from` in the answer). On
    PostgreSQL a range starting on a minute is read from the per-minute rollup (raw readings for
    the partial last minute and the hours not rolled up yet): a chart should ask for one.
    TimescaleDB buckets raw readings with `time_bucket`.

    Raw (`raw=true`): `{"t", "v"}` arrays of at most `limit` readings in all, by sensor type
    then time; `next` is the cursor of the following page, null on the last.
    """
    await _require(db, module_id)
    start, end = window.start, window.end
    if not raw:
        if "from" not in request.query_params:
            window = Window(history_sql.floor_minute(start), end)
            start = window.start
        bucket = history.bucket_width(start, end, points)
        series = await history.bucketed_series(
            db.pool, module_id, start, end, bucket, timescale=timescale
        )
        body = _series_body(window, bucket, series, None)
    else:
        after = None
        if cursor is not None:
            try:
                after = history_raw.Cursor.decode(cursor)
            except ValueError as error:
                raise invalid("cursor", str(error)) from None
        page, last = await history_raw.raw_page(db.pool, module_id, start, end, limit, after)
        body = _series_body(window, None, page, last.encode() if last else None)
    return Response(orjson.dumps(body, option=JSON), media_type="application/json")


def _series_body(
    window: Window, bucket: int | None, series: dict[str, Any], cursor: str | None
) -> dict[str, Any]:
    return {
        "from": _utc(window.start),
        "to": _utc(window.end),
        "bucketSeconds": bucket,
        "series": series,
        "next": cursor,
    }


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
