"""The dashboard in a real Chromium against a real sensorhub, broker and database (issue 16)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import Tab, app_env, serve
from tests.support import Publisher, RunningApp, db_count, wait_until

# Without Playwright the whole module is skipped (conftest.py gives the reason for Chromium).
expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright for Python is not installed"
).expect

READINGS = "SELECT count(*) FROM measurements WHERE module_id = $1"


async def stored(database_url: str, module_id: str, expected: int) -> None:
    async def check() -> bool:
        return await db_count(database_url, READINGS, module_id) >= expected

    await wait_until(check, what=f"{expected} stored readings")


def card(tab: Tab, module_id: str):  # type: ignore[no-untyped-def]
    return tab.page.locator(f'.card[data-module="{module_id}"]')


def value(tab: Tab, module_id: str, sensor: str):  # type: ignore[no-untyped-def]
    return card(tab, module_id).locator(f'.value[data-sensor="{sensor}"]')


async def report_config(publisher: Publisher, module_id: str) -> None:
    """What a module sends after boot: its sensor configuration and status."""
    sensors = {"temperature": {"interval": 10, "model": "dht22"}}
    publisher.publish(f"{module_id}/sensors/config", json.dumps({"sensors": sensors}))
    status = {"temperature": {"status": "ok", "value": 21.0}}
    publisher.publish(f"{module_id}/sensors/status", json.dumps(status))
    await publisher.drain()


async def test_pages_load_without_console_errors(
    app: RunningApp, tab: Tab, database_url: str, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        await report_config(publisher, module_id)
        publisher.publish(f"{module_id}/temperature", "21.5")
        await publisher.drain()
    await stored(database_url, module_id, 1)
    page = tab.page
    await page.goto(app.base_url + "/")
    await expect(card(tab, module_id)).to_be_visible()
    await card(tab, module_id).click()
    await expect(page.locator('tr[data-sensor="temperature"]')).to_be_visible()
    await expect(page.locator(".plot canvas").first).to_be_visible()
    for path, heading in (("/system", "System"), ("/logs", "Logs")):
        await page.goto(app.base_url + path)
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert tab.errors == []


async def test_app_pages_reload_and_other_paths_stay_404(app: RunningApp) -> None:
    for path in ("/", "/system", "/logs", "/modules/x", "/modules/a%20b"):
        page = await app.http.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
    for path in ("/nothing", "/modules/a/b", "/api/nothing-here", "/docs/x", "/assets/missing.js"):
        assert (await app.http.get(path)).status_code == 404, path
    assert (await app.http.get("/api/modules")).json() == []
    assert (await app.http.get("/health")).json() == {"status": "ok"}
    assert "/modules/{module_id}" not in (await app.http.get("/openapi.json")).json()["paths"]


async def test_published_module_appears(
    app: RunningApp, tab: Tab, broker_url: str, module_id: str
) -> None:
    await tab.page.goto(app.base_url + "/")
    await expect(tab.page.locator("[data-connection=live]")).to_be_visible()
    await expect(card(tab, module_id)).to_have_count(0)
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        publisher.publish(f"{module_id}/temperature", "19.5")
        await publisher.drain()
        await expect(card(tab, module_id)).to_be_visible(timeout=15_000)
    assert tab.errors == []


async def test_live_value_changes_on_the_card(
    app: RunningApp, tab: Tab, database_url: str, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        publisher.publish(f"{module_id}/temperature", "21.5")
        await publisher.drain()
        await stored(database_url, module_id, 1)
        await tab.page.goto(app.base_url + "/")
        await expect(tab.page.locator("[data-connection=live]")).to_be_visible()
        await expect(value(tab, module_id, "temperature")).to_have_text(re.compile(r"^21\.5"))
        publisher.publish(f"{module_id}/temperature", "23.5")
        await expect(value(tab, module_id, "temperature")).to_have_text(
            re.compile(r"^23\.5"), timeout=1_000
        )


def _series_span(url: str) -> float | None:
    """Seconds from `from` to `to` of a `/series` request (None for other requests).

    The dashboard starts a range on a whole minute (so the API reads its minute rollup): a one-hour
    preset spans 3,600 s plus up to 59 s.
    """
    parts = urlsplit(url)
    if not parts.path.endswith("/series"):
        return None
    query = parse_qs(parts.query)
    start, end = (datetime.fromisoformat(query[k][0]) for k in ("from", "to"))
    assert start.second == 0 and start.microsecond == 0, f"from is not a whole minute: {start}"
    return (end - start).total_seconds() // 60 * 60


async def test_chart_draws_the_points_the_series_api_returns(
    app: RunningApp, tab: Tab, database_url: str, broker_url: str, module_id: str
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=6)
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        for minute, reading in enumerate((20.0, 20.5, 21.0, 21.5, 22.0)):
            moment = (start + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
            publisher.publish(
                f"{module_id}/temperature", json.dumps({"value": reading, "time": moment})
            )
        await publisher.drain()
    await stored(database_url, module_id, 5)
    page = tab.page
    await page.goto(f"{app.base_url}/modules/{module_id}")
    plot = page.locator('.plot[data-series="temperature"]')
    await expect(plot).to_be_visible()  # the default range (24 h) is drawn
    async with page.expect_response(lambda r: _series_span(r.url) == 3600) as answer:
        await page.get_by_role("button", name="1 h").click()
    body = await (await answer.value).json()
    points = len(body["series"]["temperature"]["t"])
    assert points == 5  # one reading a minute: one bucket each
    await expect(plot).to_have_attribute("data-points", str(points))
    await expect(plot.locator("canvas")).to_be_visible()
    assert tab.errors == []


async def test_module_page_value_is_live(
    app: RunningApp, tab: Tab, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        await report_config(publisher, module_id)
        await wait_until(lambda: _has_status(app, module_id), what="module known to the API")
        await tab.page.goto(f"{app.base_url}/modules/{module_id}")
        current = tab.page.locator('.current[data-sensor="temperature"]')
        await expect(current).to_have_text(re.compile(r"^21\.0"))
        await expect(tab.page.locator("[data-connection=live]")).to_be_visible()
        publisher.publish(f"{module_id}/temperature", "26.5")
        await expect(current).to_have_text(re.compile(r"^26\.5"), timeout=2_000)
    assert tab.errors == []


async def test_module_without_sensors_and_a_single_point(
    app: RunningApp, tab: Tab, database_url: str, broker_url: str, module_id: str
) -> None:
    """Only `system` messages: a short line instead of an empty sensor table; then one
    reading: its chart caption says "1 point", not "1 points"."""
    page = tab.page
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        publisher.publish(f"{module_id}/system", json.dumps({"rssi": -60}))
        await publisher.drain()
        await wait_until(lambda: _has_status(app, module_id), what="module known to the API")
        await page.goto(f"{app.base_url}/modules/{module_id}")
        await expect(page.locator('[data-empty="sensors"]')).to_have_text("No readings yet.")
        await expect(page.locator("table.sensors-table")).to_have_count(0)
        publisher.publish(f"{module_id}/temperature", "21.5")
        await publisher.drain()
    await stored(database_url, module_id, 1)
    await page.reload()
    caption = page.locator("figure.chart figcaption .muted").first
    await expect(caption).to_have_text(re.compile(r"^1 point( ·|$)"))
    assert tab.errors == []


async def _edit_interval(tab: Tab, interval: str) -> None:
    row = tab.page.locator('tr[data-sensor="temperature"]')
    await row.locator("input[name=interval]").fill(interval)
    await row.get_by_role("button", name="Save").click()


async def _retained_config(broker_url: str, module_id: str) -> tuple[dict, bool]:  # type: ignore[type-arg]
    """The retained `{id}/sensors/config`, as a new subscriber receives it."""
    async with Publisher(broker_url, f"sub-{module_id}") as subscriber:
        subscriber.client.subscribe(f"{module_id}/sensors/config", qos=1)
        while True:
            _topic, payload, retained = await subscriber.received.get()
            if payload:
                return json.loads(payload), retained


async def _clear_retained(broker_url: str, module_id: str) -> None:
    async with Publisher(broker_url, f"clr-{module_id}") as publisher:
        publisher.publish(f"{module_id}/sensors/config", b"", retain=True)
        await publisher.drain()


async def test_configuration_edit_reaches_the_broker_retained(
    app: RunningApp, tab: Tab, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        await report_config(publisher, module_id)
    await wait_until(
        lambda: _has_status(app, module_id), what="module known to the API", timeout=20
    )
    try:
        await tab.page.goto(f"{app.base_url}/modules/{module_id}")
        state = tab.page.locator('tr[data-sensor="temperature"] [data-state]')
        await expect(state).to_have_text("reported")  # the module's own setting, none desired
        await _edit_interval(tab, "30")
        await expect(tab.page.locator(".notice")).to_contain_text("stored and published")
        config, retained = await _retained_config(broker_url, module_id)
        assert retained
        assert config["sensors"]["temperature"]["interval"] == 30
        await expect(state).to_have_text("pending")
        # The module applies it and reports it back: the page shows it applied, live.
        async with Publisher(broker_url, f"pub-{module_id}") as publisher:
            sensors = {"temperature": {"interval": 30, "model": "dht22"}}
            publisher.publish(f"{module_id}/sensors/config", json.dumps({"sensors": sensors}))
            await publisher.drain()
        await expect(state).to_have_text("applied")
    finally:
        await _clear_retained(broker_url, module_id)
    assert tab.errors == []


async def _has_status(app: RunningApp, module_id: str) -> bool:
    return (await app.http.get(f"/api/modules/{module_id}/status")).status_code == 200


async def test_token_prompt_when_writes_need_a_token(
    tab: Tab, database_url: str, broker_url: str, data_dir: Path, module_id: str
) -> None:
    env = app_env(database_url, broker_url, data_dir, module_id)
    async with serve(**env, SENSORHUB_API_TOKEN="s3cret-token") as app:
        async with Publisher(broker_url, f"pub-{module_id}") as publisher:
            await report_config(publisher, module_id)
        await wait_until(lambda: _has_status(app, module_id), what="module known to the API")
        body = {"sensors": {"temperature": {"interval": 20}}}
        refused = await app.http.post(f"/api/modules/{module_id}/config", json=body)
        assert refused.status_code == 401
        try:
            page = tab.page
            statuses: list[int] = []
            page.on(
                "response",
                lambda r: r.url.endswith("/config") and statuses.append(r.status),
            )
            await page.goto(f"{app.base_url}/modules/{module_id}")
            await _edit_interval(tab, "40")
            dialog = page.get_by_role("dialog", name="Access token needed")
            await expect(dialog).to_be_visible()
            await dialog.get_by_label("Token").fill("wrong")
            await dialog.get_by_role("button", name="Save and retry").click()
            await expect(dialog).to_contain_text("refused")
            await dialog.get_by_label("Token").fill("s3cret-token")
            await dialog.get_by_role("button", name="Save and retry").click()
            await expect(page.locator(".notice")).to_contain_text("stored and published")
            assert statuses == [401, 401, 200]
            stored = await page.evaluate("localStorage.getItem('sensorhub.token')")
            assert stored == "s3cret-token"
            config, _ = await _retained_config(broker_url, module_id)
            assert config["sensors"]["temperature"]["interval"] == 40
            # Kept: the next write goes through without asking.
            await _edit_interval(tab, "45")
            await expect(page.locator(".notice")).to_contain_text("stored and published")
            assert statuses[-1] == 200
            await expect(dialog).to_be_hidden()
        finally:
            await _clear_retained(broker_url, module_id)
        # While the server still runs: once it stops, the page's reconnect attempts log
        # ERR_CONNECTION_REFUSED, which would race this check.
        assert [e for e in tab.errors if "401" not in e] == []


async def test_page_survives_a_server_restart_and_resubscribes(
    tab: Tab, database_url: str, broker_url: str, data_dir: Path, module_id: str
) -> None:
    env = app_env(database_url, broker_url, data_dir, module_id)
    page = tab.page
    async with serve(**env) as app:
        port = int(app.base_url.rsplit(":", 1)[1])
        async with Publisher(broker_url, f"pub-{module_id}") as publisher:
            publisher.publish(f"{module_id}/temperature", "18.5")
            await publisher.drain()
        await stored(database_url, module_id, 1)
        await page.goto(app.base_url + "/")
        await expect(value(tab, module_id, "temperature")).to_have_text(re.compile(r"^18\.5"))
    await expect(page.locator("[data-connection=reconnecting]")).to_be_visible()
    async with serve(port, **env):
        await expect(page.locator("[data-connection=live]")).to_be_visible(timeout=30_000)
        async with Publisher(broker_url, f"pub-{module_id}") as publisher:
            publisher.publish(f"{module_id}/temperature", "24.5")
            await publisher.drain()
        await expect(value(tab, module_id, "temperature")).to_have_text(re.compile(r"^24\.5"))
    assert [
        e for e in tab.errors if "ERR_CONNECTION_REFUSED" not in e and "WebSocket" not in e
    ] == []


async def test_zones_group_the_fleet_and_the_module_page_assigns_one(
    app: RunningApp, tab: Tab, database_url: str, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        publisher.publish(f"{module_id}/temperature", "21.5")
        await publisher.drain()
    await stored(database_url, module_id, 1)
    north = (await app.http.post("/api/zones", json={"name": "Greenhouse north"})).json()
    south = (await app.http.post("/api/zones", json={"name": "Greenhouse south"})).json()
    assigned = await app.http.post(f"/api/zones/{north['id']}/devices/{module_id}")
    assert assigned.status_code == 200
    page = tab.page
    await page.goto(app.base_url + "/")
    group = page.get_by_role("region", name="Greenhouse north")
    await expect(group.locator(f'.card[data-module="{module_id}"]')).to_be_visible()
    await page.get_by_role("searchbox", name="Filter modules").fill("north")
    await expect(card(tab, module_id)).to_be_visible()
    await page.get_by_role("searchbox", name="Filter modules").fill("no-such-module")
    await expect(card(tab, module_id)).to_have_count(0)

    await page.goto(f"{app.base_url}/modules/{module_id}")
    await page.get_by_role("combobox", name="Zone").select_option(label="Greenhouse south")
    await expect(page.locator(".notice")).to_have_text("zone updated")
    zone = (await app.http.get(f"/api/zones/{south['id']}")).json()
    assert [d["moduleId"] for d in zone["devices"]] == [module_id]
    await page.get_by_role("link", name="← Fleet").click()
    group = page.get_by_role("region", name="Greenhouse south")
    await expect(group.locator(f'.card[data-module="{module_id}"]')).to_be_visible()
    assert tab.errors == []


async def test_disable_button_publishes_to_the_module(
    app: RunningApp, tab: Tab, database_url: str, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        await report_config(publisher, module_id)
        publisher.publish(f"{module_id}/dht22/temperature", "21.5")
        await publisher.drain()
    await stored(database_url, module_id, 1)
    async with Publisher(broker_url, f"sub-{module_id}") as subscriber:
        subscriber.client.subscribe(f"{module_id}/sensors/enable", qos=1)
        await tab.page.goto(f"{app.base_url}/modules/{module_id}")
        await tab.page.get_by_role("button", name="Disable dht22").click()
        topic, payload, _ = await subscriber.received.get()
    assert topic == f"{module_id}/sensors/enable"
    assert json.loads(payload) == {"hardware": "dht22", "enabled": False}
    await expect(tab.page.locator(".notice")).to_contain_text("dht22: disable sent")
    assert tab.errors == []


async def test_logs_page_lists_entries_with_filters_and_histogram(
    app: RunningApp, tab: Tab, broker_url: str, module_id: str
) -> None:
    async with Publisher(broker_url, f"pub-{module_id}") as publisher:
        await report_config(publisher, module_id)
    await wait_until(lambda: _has_status(app, module_id), what="module known to the API")
    body = {"sensors": {"temperature": {"interval": 15}}}
    try:
        assert (
            await app.http.post(f"/api/modules/{module_id}/config", json=body)
        ).status_code == 200
        page = tab.page
        await page.goto(app.base_url + "/logs")
        rows = page.locator(".log-table tbody tr")
        await expect(rows.filter(has_text=module_id).first).to_be_visible()
        bars = page.locator(".histogram .bar:not([data-count='0'])")
        await expect(bars.first).to_be_visible()
        await page.get_by_role("combobox", name="Module").select_option(module_id)
        await expect(rows.filter(has_text=module_id).first).to_be_visible()
        await page.get_by_role("combobox", name="Level").select_option("fatal")
        await expect(page.get_by_text("No log entries.")).to_be_visible()
    finally:
        await _clear_retained(broker_url, module_id)
    assert tab.errors == []
