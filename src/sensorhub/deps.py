"""Dependencies shared by the routes, declared once as typed aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sensorhub.access import read_protected, token_grants
from sensorhub.config import Settings
from sensorhub.plugins.db import Database
from sensorhub.plugins.mqtt import MqttPlugin
from sensorhub.plugins.socketio import SocketIOPlugin
from sensorhub.runtime import Runtime

__all__ = ["read_protected", "token_grants"]  # re-exported: Socket.IO uses token_grants

_bearer = HTTPBearer(auto_error=False, description="SENSORHUB_API_TOKEN, when one is set")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


def get_database(runtime: RuntimeDep) -> Database:
    return runtime.db


def get_mqtt(runtime: RuntimeDep) -> MqttPlugin:
    return runtime.mqtt


def get_live(runtime: RuntimeDep) -> SocketIOPlugin:
    return runtime.socketio


def get_timescale(runtime: RuntimeDep) -> bool:
    return runtime.timescale


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_database)]
MqttDep = Annotated[MqttPlugin, Depends(get_mqtt)]
"""The broker connection; `publish` raises ConnectionError while disconnected."""
LiveDep = Annotated[SocketIOPlugin, Depends(get_live)]
TimescaleDep = Annotated[bool, Depends(get_timescale)]
"""True when this database stores measurements in a TimescaleDB hypertable."""


def require_write_access(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Mutating endpoints need `Authorization: Bearer <SENSORHUB_API_TOKEN>` when a token is set."""
    supplied = credentials.credentials if credentials is not None else None
    if not token_grants(settings, supplied, write=True):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required for this operation",
            headers={"WWW-Authenticate": "Bearer"},
        )


WriteAccess = Depends(require_write_access)
