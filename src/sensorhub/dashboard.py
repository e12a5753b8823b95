"""The dashboard at `/`: the built single-page app in `sensorhub/web/` (sources in `web/`).

`/assets/*` are content-hashed files, served with a one-year immutable cache. The app's own
pages (`/`, `/system`, `/logs`, `/modules/{id}`; it routes in the browser) all answer
`index.html`, so any of them can be reloaded or bookmarked. Nothing else falls back: the API,
docs, Socket.IO, metrics and probes keep their paths and every unknown path stays a 404. Without a
build (a checkout where `make web` never ran) nothing is mounted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

logger = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).parent / "web"
APP_PAGES: Final = ("/", "/system", "/logs", "/modules/{module_id}")
"""The paths the single-page app routes (web/src/app.tsx); keep the two lists in step."""


class HashedAssets(StaticFiles):
    """Static files whose names change with their content: cache them for good."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def install_dashboard(api: FastAPI, web_dir: Path = WEB_DIR) -> bool:
    """Serve the dashboard's files and pages.

    Returns False (and serves nothing) when `web_dir` holds no `index.html`.
    """
    index = web_dir / "index.html"
    if not index.is_file():
        logger.info("no dashboard build in %s; run `make web` to build it", web_dir)
        return False
    api.mount("/assets", HashedAssets(directory=web_dir / "assets"), name="dashboard-assets")

    async def page() -> FileResponse:
        # no-cache: the browser revalidates index.html, so a new build is picked up at once.
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    for path in APP_PAGES:
        api.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    return True
