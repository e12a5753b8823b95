"""Browser tests of the dashboard: Playwright driving the system's Chromium (Debian `chromium`).

`playwright install` is not needed (nor possible offline): the tests launch `/usr/bin/chromium`
(or `SENSORHUB_TEST_CHROMIUM`). Without it, or without the Python package, they are skipped with
the reason; `.ci/run` installs Chromium so they always run in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sensorhub.dashboard import WEB_DIR
from tests.support import running_app

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    candidates = [os.environ.get("SENSORHUB_TEST_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def _skip_reason() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium found (apt-get install chromium, or set SENSORHUB_TEST_CHROMIUM)"
    if not (WEB_DIR / "index.html").is_file():
        return "the dashboard is not built (make web)"
    return None


SKIP_REASON = _skip_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SKIP_REASON is None:
        return
    marker = pytest.mark.skip(reason=f"browser tests skipped: {SKIP_REASON}")
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(marker)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()


@dataclass
class Tab:
    """A page plus every console error and uncaught exception it produced."""

    page: Any
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def tab(browser: Any) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    result = Tab(page)
    page.on(
        "console",
        lambda message: message.type == "error" and result.errors.append(message.text),
    )
    page.on("pageerror", lambda error: result.errors.append(str(error)))
    yield result
    await context.close()


serve = running_app
"""sensorhub under uvicorn; `serve(port, **env)` restarts on the same port."""


def app_env(database_url: str, broker_url: str, data_dir: Path, module_id: str) -> dict[str, str]:
    """The settings of the `app` fixture (this test's topics only)."""
    return {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "DATA_DIR": str(data_dir),
        "MQTT_TOPICS": f"{module_id}/#",
        "MQTT_CLIENT_ID": f"sh-{module_id}"[:64],
        "BUFFER_MAX_AGE": "0.2",
    }
