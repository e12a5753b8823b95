"""Cross-site protection and read access on HTTP (issue 17).

`OriginGuard` is ASGI middleware placed outside CORS:

- A mutating request (POST, PUT, PATCH, DELETE) whose `Origin` is neither this server's own
  origin (same `Host`) nor listed in `CORS_ORIGINS` is refused with 403 and a JSON error. Browsers
  always send `Origin` on cross-origin writes, so a web page open in the operator's browser can no
  longer change the fleet; clients without a browser (curl, scripts) send no `Origin` and are
  judged by their token alone.
- A CORS preflight from an origin that is not allowed is answered 403 with no CORS headers at
  all; so a Private Network Access preflight (`Access-Control-Request-Private-Network: true`)
  gets `Access-Control-Allow-Private-Network: true` (from Starlette's CORS) only for an allowed
  origin: a public web page cannot reach a sensorhub on the operator's LAN or loopback.
- When `SENSORHUB_READ_TOKEN` is set, every GET/HEAD under `/api` and `/metrics` needs
  `Authorization: Bearer <token>` with the read or the write token (401 otherwise). `/health`,
  `/ready`, the API docs and static files stay open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sensorhub.access import token_grants
from sensorhub.config import Settings

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READS = frozenset({"GET", "HEAD"})


def origin_allowed(origin: str, host: str | None, settings: Settings) -> bool:
    """Same origin (its host[:port] is the request's `Host` or `X-Forwarded-Host`, given here as
    one comma-separated string) or listed in CORS_ORIGINS.

    Trusting `X-Forwarded-Host` is safe here: a page on another site cannot add that header to a
    cross-origin request without a preflight, and foreign preflights are refused.
    """
    if "*" in settings.cors_origins or origin in settings.cors_origins:
        return True
    if origin == "null" or not host:
        return False
    netloc = urlsplit(origin).netloc.lower()
    return any(netloc == candidate.strip().lower() for candidate in host.split(","))


def _hosts(host: str | None, forwarded_host: str | None) -> str | None:
    return ",".join(h for h in (host, forwarded_host) if h) or None


def socketio_origin_check(settings: Settings) -> Callable[[str | None, dict[str, Any]], bool]:
    """For python-socketio's `cors_allowed_origins`: the same rule as HTTP (same origin or listed).

    An empty list there would disable the check; a list alone would refuse the same origin.
    """

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        hosts = _hosts(environ.get("HTTP_HOST"), environ.get("HTTP_X_FORWARDED_HOST"))
        return origin is None or origin_allowed(origin, hosts, settings)

    return allowed


def is_read_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path == "/metrics"


def bearer(headers: Headers) -> str | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


class OriginGuard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        origin = headers.get("origin")
        host = _hosts(headers.get("host"), headers.get("x-forwarded-host"))
        if method == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send, headers, origin)
            return
        if (
            method in MUTATING
            and origin is not None
            and not origin_allowed(origin, host, self.settings)
        ):
            await _refuse(scope, receive, send, 403, f"cross-site request from {origin} refused")
            return
        if (
            method in READS
            and is_read_path(scope["path"])
            and not token_grants(self.settings, bearer(headers), write=False)
        ):
            await _refuse(
                scope,
                receive,
                send,
                401,
                "a valid bearer token (SENSORHUB_READ_TOKEN) is required",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        await self.app(scope, receive, send)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, origin: str | None
    ) -> None:
        host = _hosts(headers.get("host"), headers.get("x-forwarded-host"))
        if origin is None or not origin_allowed(origin, host, self.settings):
            await _refuse(scope, receive, send, 403, f"cross-origin request from {origin} refused")
            return
        await self.app(scope, receive, send)  # CORS answers, granting private network access


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    error: str,
    headers: dict[str, str] | None = None,
) -> None:
    response = JSONResponse({"error": error, "status": status}, status_code=status, headers=headers)
    await response(scope, receive, send)
