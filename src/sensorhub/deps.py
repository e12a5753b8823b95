"""Dependencies shared by the routes, declared once as typed aliases."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sensorhub.config import Settings
from sensorhub.plugins.db import Database
from sensorhub.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="SENSORHUB_API_TOKEN, when one is set")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


def get_database(runtime: RuntimeDep) -> Database:
    return runtime.db


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_database)]


def require_write_access(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Mutating endpoints need `Authorization: Bearer <SENSORHUB_API_TOKEN>` when a token is set."""
    token = settings.sensorhub_api_token
    if token is None:
        return
    supplied = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(supplied.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required for this operation",
            headers={"WWW-Authenticate": "Bearer"},
        )


WriteAccess = Depends(require_write_access)


def token_grants(settings: Settings, presented: str | None, *, write: bool) -> bool:
    """Whether `presented` grants writes (`write=True`) or reads (`write=False`).

    Writes need SENSORHUB_API_TOKEN when it is set; reads need SENSORHUB_API_TOKEN or
    SENSORHUB_READ_TOKEN when either is set. With no token configured for the access asked,
    everything is granted. Compared in constant time.
    (Minimal version added by helper F for the Socket.IO connect check; helper A owns this.)
    """
    api, read = settings.sensorhub_api_token, settings.sensorhub_read_token
    accepted = [api] if write else [api, read]
    secrets_set = [token.get_secret_value().encode() for token in accepted if token is not None]
    if not secrets_set:
        return True
    supplied = (presented or "").encode()
    granted = False
    for secret in secrets_set:
        granted |= secrets.compare_digest(supplied, secret)
    return granted and bool(presented)
