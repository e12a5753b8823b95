"""`python -m bench.dashboard`: the dashboard with 500 modules in Debian's Chromium.

Measures (3 runs each, min/median/max):
- time to first render: navigation start → all 500 fleet cards in the DOM (`performance.now()`);
- frame rate while 1,000 measurements/s arrive over MQTT → sensorhub → Socket.IO, from the
  intervals between `requestAnimationFrame` callbacks over 10 s, against the same page idle.

sensorhub runs as a subprocess on a fresh database against the benchmark broker; the publisher
(QoS 0, paced every 10 ms) and Chromium share the machine with it, so the figures are for this
machine under that load, not the browser alone. Results go to bench/results/dashboard.json and
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311

from bench.common import (
    BROKER_URL,
    Table,
    count,
    create_database,
    drop_database,
    sensorhub,
)
from bench.report import render, save

MODULES = 500
SENSORS = ("temperature", "humidity", "co2", "pressure")
START = {"temperature": 21.0, "humidity": 55.0, "co2": 600.0, "pressure": 1013.0}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

FRAME_PROBE = """
async (seconds) => {
  const times = [];
  const end = performance.now() + seconds * 1000;
  await new Promise((resolve) => {
    const tick = (t) => { times.push(t); if (t < end) requestAnimationFrame(tick); else resolve(); };
    requestAnimationFrame(tick);
  });
  return times.slice(1).map((t, i) => t - times[i]);
}
"""

LIST_ANSWERED = """
performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/modules'))?.responseEnd ?? 0
"""


def module_id(index: int) -> str:
    return f"dashb-{index:03d}"


async def publisher() -> Client:
    parts = urlsplit(BROKER_URL)
    client = Client(f"dashb-pub-{time.monotonic_ns()}")
    await client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, version=MQTTv311)
    return client


async def seed(client: Client) -> None:
    for i in range(MODULES):
        mid = module_id(i)
        sensors = {s: {"interval": 10, "model": "sim"} for s in SENSORS}
        client.publish(f"{mid}/sensors/config", json.dumps({"sensors": sensors}), qos=0)
        for sensor in SENSORS:
            client.publish(f"{mid}/{sensor}", str(START[sensor]), qos=0)
        if i % 50 == 49:
            await asyncio.sleep(0.05)


async def publish_at(client: Client, rate: int, seconds: float) -> int:
    """Measurements to random modules at `rate` per second, in 10 ms steps; returns the count."""
    sent, step, started = 0, 0.01, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) + int(rate * step)
        while sent < due:
            i = sent % MODULES
            sensor = SENSORS[(sent // MODULES) % len(SENSORS)]
            value = START[sensor] + (sent % 97) / 10
            client.publish(f"{module_id(i)}/{sensor}", f"{value:.1f}", qos=0)
            sent += 1
        await asyncio.sleep(step)
    return sent


def spread(values: list[float], digits: int = 0) -> str:
    ordered = sorted(values)
    fmt = f"{{:.{digits}f}}"
    return " / ".join(fmt.format(v) for v in (ordered[0], statistics.median(ordered), ordered[-1]))


def frame_stats(intervals: list[float]) -> dict[str, float]:
    ordered = sorted(intervals)
    total = sum(intervals)
    return {
        "fps": len(intervals) * 1000 / total if total else 0.0,
        "p95": ordered[int(len(ordered) * 0.95)] if ordered else 0.0,
        "max": ordered[-1] if ordered else 0.0,
        "long": sum(1 for i in intervals if i > 50),
    }


async def run(runs: int, seconds: float, rate: int) -> list[Table]:
    from playwright.async_api import async_playwright

    database_url = await create_database("dashb")
    topics = ",".join(f"{module_id(i)}/#" for i in range(MODULES))
    load_before = os.getloadavg()[0]
    renders: list[float] = []
    listed: list[float] = []
    idle: list[dict[str, float]] = []
    busy: list[dict[str, float]] = []
    delivered: list[float] = []
    try:
        with sensorhub(database_url, topics) as hub:
            client = await publisher()
            await seed(client)
            expected = MODULES * len(SENSORS)
            sql = "SELECT count(*) FROM measurements"
            deadline = time.monotonic() + 120
            while await count(database_url, sql) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                for _ in range(runs):
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    frames = {"n": 0}

                    def on_socket(ws: Any, frames: dict[str, int] = frames) -> None:
                        ws.on(
                            "framereceived",
                            lambda payload: frames.__setitem__(
                                "n", frames["n"] + str(payload).count('"moduleId"')
                            ),
                        )

                    page.on("websocket", on_socket)
                    await page.goto(hub.base_url + "/")
                    await page.wait_for_function(
                        f"document.querySelectorAll('.card').length >= {MODULES}", polling="raf"
                    )
                    renders.append(await page.evaluate("performance.now()"))
                    listed.append(await page.evaluate(LIST_ANSWERED))
                    await page.wait_for_selector("[data-connection=live]")
                    await page.wait_for_load_state("networkidle")
                    idle.append(frame_stats(await page.evaluate(FRAME_PROBE, seconds)))
                    frames["n"] = 0
                    probe = asyncio.ensure_future(page.evaluate(FRAME_PROBE, seconds))
                    sent = await publish_at(client, rate, seconds)
                    busy.append(frame_stats(await probe))
                    delivered.append(frames["n"] / max(sent, 1))
                    await page.close()
                await browser.close()
            await client.disconnect()
    finally:
        await drop_database(database_url)

    table = Table(
        title=f"Dashboard: {MODULES} modules in Chromium",
        goal="issue 16: state the time to first render with 500 modules; 1,000 msg/s must not freeze the page (≈ 60 fps)",
        command="python -m bench.dashboard",
        columns=["figure", "min / median / max"],
    )
    table.rows += [
        ["time to first render of 500 cards (ms)", spread(renders)],
        ["… of which until `GET /api/modules` answered (ms)", spread(listed)],
        ["frame rate idle (fps)", spread([s["fps"] for s in idle], 1)],
        [f"frame rate at {rate:,} msg/s (fps)", spread([s["fps"] for s in busy], 1)],
        [f"p95 frame interval at {rate:,} msg/s (ms)", spread([s["p95"] for s in busy], 1)],
        [f"longest frame at {rate:,} msg/s (ms)", spread([s["max"] for s in busy], 1)],
        [f"frames > 50 ms in {seconds:.0f} s at {rate:,} msg/s", spread([s["long"] for s in busy])],
        ["live events received / published", spread(delivered, 2)],
    ]
    table.notes += [
        f"{runs} runs; each loads the fleet page fresh, then measures {seconds:.0f} s idle and "
        f"{seconds:.0f} s while {rate:,} QoS 0 measurements/s are published to the {MODULES} modules.",
        "Headless Chromium (--disable-gpu) paints in software; sensorhub, PostgreSQL, Mosquitto, "
        "the publisher and the browser share the machine's cores.",
        f"Load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}.",
        "First render = the module list request (server side, most of the time with 500 modules) "
        "plus building 500 cards; sparklines load afterwards, only for cards on screen.",
    ]
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s; results not rendered")
    args = parser.parse_args()
    runs, seconds = (1, 3.0) if args.quick else (args.runs, args.seconds)
    tables = asyncio.run(run(runs, seconds, args.rate))
    path = save("dashboard", tables, quick=args.quick)
    print(path.read_text())
    if not args.quick:
        print(f"rendered {render()}")


if __name__ == "__main__":
    main()
