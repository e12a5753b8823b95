"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sensorhub.deps import RuntimeDep
from sensorhub.modules.system.schemas import Health, Readiness

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
