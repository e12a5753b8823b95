"""The dashboard at `/`: the built single-page app in `sensorhub/web/` (sources in `web/`).

`/assets/*` are content-hashed files, served with a one-year immutable cache. Every other GET
path outside the server's own prefixes answers `index.html` (the app routes in the browser), so
`/modules/x` can be reloaded or bookmarked; the API, docs, Socket.IO, metrics and probes keep
their own 404s. Without a build (a checkout where `make web` never ran) nothing is mounted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

logger = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).parent / "web"
SERVER_PREFIXES: Final = frozenset(
    {"api", "assets", "docs", "redoc", "openapi.json", "socket.io", "metrics", "health", "ready"}
)
"""First path segments that never fall back to the app (their unknown paths stay 404)."""


class HashedAssets(StaticFiles):
    """Static files whose names change with their content: cache them for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def install_dashboard(api: FastAPI, web_dir: Path = WEB_DIR) -> bool:
    """Serve the dashboard; call after every other router (its fallback matches any path).

    Returns False (and serves nothing) when `web_dir` holds no `index.html`.
    """
    index = web_dir / "index.html"
    if not index.is_file():
        logger.info("no dashboard build in %s; run `make web` to build it", web_dir)
        return False
    api.mount("/assets", HashedAssets(directory=web_dir / "assets"), name="dashboard-assets")

    @api.get("/{path:path}", include_in_schema=False)
    async def dashboard(path: str) -> FileResponse:
        if path.split("/", 1)[0] in SERVER_PREFIXES or path == "favicon.ico":
            raise HTTPException(status_code=404, detail="Not Found")
        # no-cache: the browser revalidates index.html, so a new build is picked up at once.
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    return True
