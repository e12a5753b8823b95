"""`python -m bench.latency_fanout`: server CPU per event of one Socket.IO client, without ingest.

The end-to-end `bench.latency` measures a client's cost as the difference of two noisy figures
(the whole ingest path with and without a client, which alone spread 42–58 µs per message on
this shared machine). Here the server is only the live path: this process serves
`SocketIOPlugin`'s server with uvicorn and feeds `publish_message` 5,000 `Accepted` readings a
second (50 every 10 ms, as ingestion would), while `bench.latency_clients` holds the client in
another process. CPU is this process's `time.process_time` over the run, so what the machine
spends on other work is not counted; a run with no client gives the base cost, and each case
reports min / median / max over `--runs` of the extra µs per event and the client-side latency.

`--pace burst` (the default) publishes 50 readings every 10 ms, as `bench live`'s broker delivers
them; `--pace even` publishes one reading every 200 µs, each in a loop iteration of its own, as
`bench latency`'s evenly paced publisher delivers them (the harder case for coalescing).

    python -m bench.latency_fanout --runs 3 --ws coalescing   # sensorhub serve's WebSocket writes
    python -m bench.latency_fanout --runs 3 --ws auto         # uvicorn's own (one write per frame)
    python -m bench.latency_fanout --runs 3 --pace even       # one reading per loop iteration
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench.latency_clients import clients_main
from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.live.coalesce import CoalescingWebSocketProtocol
from sensorhub.plugins.socketio import SocketIOPlugin
from tests.support import live_server

RATE, TICK = 5_000, 0.01


async def feed(plugin: SocketIOPlugin, seconds: float, pace: str = "burst") -> int:
    """Publish RATE readings a second for `seconds`; each value is its send time in µs.

    `burst`: `RATE * TICK` readings at once every `TICK` s; `even`: one at a time, spaced evenly.
    """
    per_tick, sent = (int(RATE * TICK) if pace == "burst" else 1), 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        now = datetime.now(UTC)
        stamp = time.time_ns() / 1000
        for n in range(per_tick):
            module = f"fan-{(sent + n) % 100:03d}"
            plugin.publish_message(
                Accepted(
                    topic=f"{module}/s0/latency",
                    module_id=module,
                    kind=MessageKind.MEASUREMENT,
                    time=now,
                    value=stamp,
                )
            )
        sent += per_tick
        await asyncio.sleep(max(0.0, started + sent / RATE - time.monotonic()))
    return sent


async def one_case(
    base_url: str, plugin: SocketIOPlugin, mode: str, seconds: float, pace: str
) -> dict[str, Any]:
    """CPU µs per event of this process with one `mode` client (`none`: no client)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process, warm = None, 0
    if mode != "none":
        process = context.Process(target=clients_main, args=(base_url, 1, mode, child), daemon=True)
        process.start()
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, parent.recv)
        if ready != "ready":
            raise RuntimeError(f"client did not connect: {ready}")
        warm = await feed(plugin, 0.5, pace)
    cpu = time.process_time()
    sent = await feed(plugin, seconds, pace)
    cpu = time.process_time() - cpu
    result: dict[str, Any] = {"mode": mode, "us_per_event": cpu / sent * 1e6}
    if process is not None:
        await asyncio.sleep(1.0)
        parent.send("stop")
        stats = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        result.update(received=stats["received"], sent=warm + sent, p99=stats["latency"].get("p99"))
        process.join(10)
    return result


async def run(
    ws: str, runs: int, seconds: float, pace: str = "burst"
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {"none": [], "single": [], "batch": []}
    async with live_server(CoalescingWebSocketProtocol if ws == "coalescing" else ws) as (
        base_url,
        plugin,
    ):
        for _ in range(runs):
            for mode in results:
                results[mode].append(await one_case(base_url, plugin, mode, seconds, pace))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_fanout", description=__doc__)
    parser.add_argument("--ws", default="coalescing", help="coalescing, or a uvicorn ws name")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pace", choices=("burst", "even"), default="burst")
    args = parser.parse_args()
    results = asyncio.run(run(args.ws, args.runs, args.seconds, args.pace))
    base = [r["us_per_event"] for r in results["none"]]
    print(
        f"ws={args.ws} pace={args.pace}: no client "
        f"{min(base):.1f} / {statistics.median(base):.1f} µs per event"
    )
    for mode in ("single", "batch"):
        extra = sorted(r["us_per_event"] - b for r, b in zip(results[mode], base, strict=True))
        lost = sum(r["sent"] - r["received"] for r in results[mode])
        p99 = [r["p99"] for r in results[mode]]
        print(
            f"  {mode}: +{extra[0]:.1f} / +{statistics.median(extra):.1f} / +{extra[-1]:.1f} µs "
            f"per event (min / median / max of {len(extra)}), not received {lost}, p99 ms {p99}"
        )


if __name__ == "__main__":
    main()
