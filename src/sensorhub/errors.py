"""JSON error bodies: `{"error": ..., "detail": ...}` with the field named on validation errors."""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi import HTTPException as FastAPIHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, socket gone, timed out (TimeoutError is an OSError)
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection lost mid-query
    asyncpg.exceptions.OperatorInterventionError,  # 57P: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # 53: disk full, out of memory, too many
)
"""Errors meaning PostgreSQL cannot be reached now: 503, not 500 (ingestion spools meanwhile)."""


class NotFoundError(HTTPException):
    def __init__(self, what: str) -> None:
        super().__init__(status_code=404, detail=f"{what} not found")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail), "status": error.status_code},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        logger.warning("%s %s: database unavailable (%s)", request.method, request.url.path, error)
        return JSONResponse(
            {"error": "the database is unavailable; try again shortly", "status": 503},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    for kind in DATABASE_UNAVAILABLE:
        app.add_exception_handler(kind, database_unavailable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(part) for part in issue["loc"] if part != "body"),
                "message": issue["msg"],
            }
            for issue in error.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(
            {"error": f"invalid input: {summary}", "status": 422, "detail": problems},
            status_code=422,
        )


class BodySizeLimit:
    """ASGI middleware: request bodies larger than `max_bytes` get a 413 JSON error.

    A declared `Content-Length` is checked before anything is read; a chunked body is counted
    while the route reads it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._too_large(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # fastapi's HTTPException: FastAPI re-raises it while parsing the body.
                    raise FastAPIHTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"error": self._detail(), "status": 413}
        response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)
