"""The application factory: FastAPI and Socket.IO on one ASGI app; the lifespan runs the plugins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from sensorhub import __version__
from sensorhub.config import Settings
from sensorhub.dashboard import install_dashboard
from sensorhub.errors import BodySizeLimit, install_error_handlers
from sensorhub.http_guard import OriginGuard
from sensorhub.modules.activity.routes import router as logs_router
from sensorhub.modules.devices import commands, history_routes, module_types
from sensorhub.modules.devices.routes import router as devices_router
from sensorhub.modules.system.routes import router as system_router
from sensorhub.modules.zones.routes import router as zones_router
from sensorhub.runtime import Runtime

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def operation_id(route: APIRoute) -> str:
    """`{tag}-{name}`: readable, stable function names in generated clients."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


class SensorhubApp:
    """The ASGI app served by uvicorn: `/socket.io` for Socket.IO, everything else for FastAPI."""

    def __init__(self, api: FastAPI, runtime: Runtime) -> None:
        self.api = api
        self.runtime = runtime
        assert runtime.socketio is not None
        self._asgi = socketio.ASGIApp(runtime.socketio.server, other_asgi_app=api)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)


def create_app(settings: Settings) -> SensorhubApp:
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(
        title="sensorhub",
        version=__version__,
        description="Backend for fleets of ESP32 sensor modules.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    api.state.runtime = runtime
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)  # inside CORS
    # CORS_ORIGINS empty (the default) = same origin only: no CORS headers at all.
    api.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=list(CORS_METHODS),
        allow_headers=["Authorization", "Content-Type"],
        allow_private_network=True,  # only origins OriginGuard let through get this far
    )
    api.add_middleware(OriginGuard, settings=settings)  # outermost: refuses before CORS answers
    install_error_handlers(api)
    api.include_router(system_router)
    api.include_router(module_types.router)  # before /api/modules/{module_id}/...
    api.include_router(devices_router)
    api.include_router(history_routes.router)
    api.include_router(commands.router)
    api.include_router(zones_router)
    api.include_router(logs_router)
    install_dashboard(api)
    return SensorhubApp(api, runtime)
