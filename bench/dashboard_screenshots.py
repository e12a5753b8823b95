"""`python -m bench.dashboard_screenshots URL MODULE_ID [RANGE]`: the README's screenshots.

Fleet, module and system pages at desktop (1280×800) and phone (390×844) widths, written to
docs/dashboard-<page>-<width>.png, and the module page in the dark theme. Point it at a running
`sensorhub serve --simulate 5` that has run for a few minutes (so the charts have history).
RANGE is the module page's range button (default `1 h`; `24 h` once a day of history exists).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bench.dashboard import CHROMIUM_ARGS

DOCS = Path(__file__).parent.parent / "docs"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


async def shoot(base_url: str, module_id: str, chart_range: str = "1 h") -> list[Path]:
    from playwright.async_api import async_playwright

    pages = {"fleet": "/", "module": f"/modules/{module_id}", "system": "/system"}
    written = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        for size, (width, height) in SIZES.items():
            page = await browser.new_page(viewport={"width": width, "height": height})
            for name, path in pages.items():
                await page.goto(base_url + path)
                await page.wait_for_selector("[data-connection=live]")
                await page.wait_for_load_state("networkidle")
                if name == "module":  # a fresh simulation has minutes of history, not a day
                    await page.get_by_role("button", name=chart_range).click()
                await page.wait_for_timeout(6000 if name == "system" else 1500)
                target = DOCS / f"dashboard-{name}-{size}.png"
                await page.screenshot(path=str(target))
                written.append(target)
            await page.close()
        # One in the dark theme (it follows the system's colour scheme until toggled).
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.emulate_media(color_scheme="dark")
        await page.goto(base_url + pages["module"])
        await page.wait_for_load_state("networkidle")
        await page.get_by_role("button", name=chart_range).click()
        await page.wait_for_timeout(1500)
        target = DOCS / "dashboard-module-desktop-dark.png"
        await page.screenshot(path=str(target))
        written.append(target)
        await browser.close()
    return written


if __name__ == "__main__":
    for path in asyncio.run(shoot(*sys.argv[1:4])):
        print(path, path.stat().st_size)
