"""Liveness, readiness, Prometheus metrics, and `/api` database size, metrics history, storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sensorhub.db.storage_stats import storage_report
from sensorhub.deps import DbDep, RuntimeDep
from sensorhub.modules.system import repository
from sensorhub.modules.system.schemas import (
    DbSize,
    Health,
    MetricsHistory,
    MetricsSample,
    Readiness,
    StorageReport,
)

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Database or broker not connected"}},
    summary="Readiness: database and broker connected",
)
async def ready(runtime: RuntimeDep) -> Response:
    checks = await runtime.ready()
    body = Readiness(
        status="ready" if all(checks.values()) else "not ready",
        database=checks["database"],
        broker=checks["broker"],
        timescaledb=runtime.timescale,
    )
    return JSONResponse(
        body.model_dump(by_alias=True), status_code=200 if body.status == "ready" else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/db-size", response_model=DbSize, summary="Size of the database")
async def get_db_size(db: DbDep) -> DbSize:
    size_bytes, size = await repository.database_size(db.pool)
    return DbSize(total_size=size, total_size_bytes=size_bytes)


@router.get(
    "/api/metrics-history",
    response_model=MetricsHistory,
    summary="Sampled database size, row counts and ingest rate",
)
async def get_metrics_history(
    db: DbDep,
    days: Annotated[float, Query(gt=0, le=3650, description="How far back.")] = 7,
) -> MetricsHistory:
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    rows = await repository.metrics_history(db.pool, start, end)
    return MetricsHistory(
        samples=[MetricsSample.model_validate(dict(row)) for row in rows], from_=start, to=end
    )


@router.get(
    "/api/storage",
    response_model=StorageReport,
    summary="Database and table sizes, measurement counts, TimescaleDB state",
)
async def get_storage(runtime: RuntimeDep) -> StorageReport:
    async with runtime.db.pool.acquire() as connection:
        report = await storage_report(connection, runtime.timescale, runtime.settings)
    return StorageReport.model_validate(report)
