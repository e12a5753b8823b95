"""JSON error bodies: `{"error": ..., "detail": ...}` with the field named on validation errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


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
