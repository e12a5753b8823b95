"""Soak: a steady QoS 1 stream for a long time, with live and REST readers, watching for stalls.

2,000 msg/s from 100 modules at QoS 1 into a `sensorhub serve` subprocess (BUFFER_MAX_AGE=1)
on the local PostgreSQL and a default Mosquitto, with 10 Socket.IO clients (each subscribed to one
module, as a dashboard showing one module is; reconnecting if dropped) and one REST client polling
a module's history every 5 s. Sampled every second: sensorhub's RSS and buffer depth,
the active PostgreSQL backends' wait events on the benchmark database; from /metrics at the end
of each reporting interval: the event-loop lag histogram (p99 per interval), stored, spooled,
and ingest write timeouts. Reports sent / stored / lost at the end.

    python -m bench soak                        # 10 minutes (BENCH_SOAK_MINUTES overrides)
    python -m bench.soak --minutes 60 --out /tmp/soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import (
    ProcessSampler,
    Table,
    create_database,
    drop_database,
    sensorhub,
    wait_for_count,
)
from bench.ingest import generate, module_topics

RATE = 2_000.0
SOCKETIO_CLIENTS = 10
HISTORY_POLL_S = 5.0
LAG_METRIC = "sensorhub_event_loop_lag_seconds"

WAIT_EVENTS = r"""
SELECT coalesce(wait_event_type, 'CPU') AS type, coalesce(wait_event, 'running') AS event,
       CASE WHEN wait_event_type = 'Lock' THEN ' (' || left(regexp_replace(query, '\s+', ' ',
            'g'), 50) || ')' ELSE '' END AS what,
       count(*) AS n
FROM pg_stat_activity
WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()
GROUP BY 1, 2, 3
"""


@dataclass
class Interval:
    """One reporting interval of the soak."""

    minute: float
    rss_mb: float
    depth_max: float
    lag_p99_ms: float | None
    stored: float
    spooled: float
    write_timeouts: float


@dataclass
class SoakResult:
    minutes: float
    intervals: list[Interval] = field(default_factory=list)
    wait_events: Counter[str] = field(default_factory=Counter)
    wait_samples: int = 0
    history_polls: int = 0
    history_errors: int = 0
    history_ms: list[float] = field(default_factory=list)
    sent: int = 0
    stored: int = 0
    socketio_received: int = 0
    socketio_drops: int = 0
    lag_p99_ms: float | None = None
    cpu_percent: float = 0.0
    peak_rss_mb: float = 0.0
    finished: bool = False


def lag_quantile(before: dict[str, float], after: dict[str, float], q: float) -> float | None:
    """The `q` quantile (upper bucket bound, ms) of the lag histogram between two scrapes."""
    buckets: list[tuple[float, float]] = []
    for name, value in after.items():
        if name.startswith(f"{LAG_METRIC}_bucket{{"):
            bound = name.split('le="', 1)[1].split('"', 1)[0]
            upper = float("inf") if bound == "+Inf" else float(bound)
            buckets.append((upper, value - before.get(name, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    for upper, cumulative in buckets:
        if cumulative >= q * total:
            return upper * 1000
    return None


def _socketio_clients(
    base_url: str, prefix: str, clients: int, ready: Any, stop: Any, received: Any, drops: Any
) -> None:
    """Dashboards each watching one module (`subscribe`), reconnecting when dropped."""
    import socketio

    async def client(index: int, counters: list[int]) -> None:
        module = f"{prefix}-{index + 1:03d}"
        while not stop.is_set():
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("mqtt-message", lambda _data: counters.__setitem__(index, counters[index] + 1))
            await sio.connect(base_url, transports=["websocket"], auth={"events": ["mqtt-message"]})
            await sio.call("subscribe", [module])
            if index == clients - 1:
                ready.set()
            while sio.connected and not stop.is_set():
                await asyncio.sleep(0.2)
            if not stop.is_set():
                drops.value += 1
            with contextlib.suppress(Exception):
                await sio.disconnect()

    async def main() -> None:
        counters = [0] * clients
        tasks = [asyncio.create_task(client(i, counters)) for i in range(clients)]
        while not stop.is_set():
            await asyncio.sleep(0.2)
            received.value = sum(counters)
        await asyncio.gather(*tasks, return_exceptions=True)
        received.value = sum(counters)

    asyncio.run(main())


def _history_poller(base_url: str, module: str, stop: Any, result: Any) -> None:
    polls = errors = 0
    times: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.wait(HISTORY_POLL_S):
            started = time.perf_counter()
            try:
                response = client.get(f"/api/modules/{module}/history", params={"days": 1})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            polls += 1
            errors += 0 if ok else 1
            times.append((time.perf_counter() - started) * 1000)
    result.put((polls, errors, times))


async def soak(minutes: float, out: Path | None = None, interval_s: float = 60.0) -> SoakResult:
    duration = minutes * 60
    database_url = await create_database("bench_soak")
    database_name = database_url.rsplit("/", 1)[1]
    prefix = f"s{uuid.uuid4().hex[:6]}"
    result = SoakResult(minutes=minutes)
    context = multiprocessing.get_context("spawn")
    try:
        with sensorhub(database_url, module_topics(prefix), BUFFER_MAX_AGE="1") as hub:
            sampler = ProcessSampler(hub.process.pid, interval=1.0).start()
            stop = context.Event()
            ready = context.Event()
            received = context.Value("q", 0)
            drops = context.Value("q", 0)
            history = context.Queue()
            clients = context.Process(
                target=_socketio_clients,
                args=(hub.base_url, prefix, SOCKETIO_CLIENTS, ready, stop, received, drops),
            )
            clients.start()
            ready.wait(60)
            poller = context.Process(
                target=_history_poller, args=(hub.base_url, f"{prefix}-001", stop, history)
            )
            poller.start()
            done = asyncio.Event()
            monitor = await asyncpg.connect(database_url)

            async def watch() -> None:
                started = time.monotonic()
                previous = await asyncio.to_thread(hub.metrics)
                depth_max = 0.0
                next_report = started + interval_s
                while not done.is_set():
                    now_metrics = await asyncio.to_thread(hub.metrics)
                    depth_max = max(depth_max, now_metrics.get("sensorhub_buffer_depth", 0.0))
                    for row in await monitor.fetch(WAIT_EVENTS, database_name):
                        result.wait_events[f"{row['type']}:{row['event']}{row['what']}"] += row["n"]
                    result.wait_samples += 1
                    if time.monotonic() >= next_report:
                        rss = sampler.rss_samples[-1][1] / 2**20 if sampler.rss_samples else 0.0
                        lag = lag_quantile(previous, now_metrics, 0.99)
                        result.intervals.append(
                            Interval(
                                minute=round((time.monotonic() - started) / 60, 1),
                                rss_mb=round(rss, 1),
                                depth_max=depth_max,
                                lag_p99_ms=lag,
                                stored=now_metrics.get("sensorhub_measurements_stored_total", 0),
                                spooled=now_metrics.get("sensorhub_measurements_spooled_total", 0),
                                write_timeouts=now_metrics.get(
                                    "sensorhub_ingest_write_timeouts_total", 0
                                ),
                            )
                        )
                        print(json.dumps(asdict(result.intervals[-1])), flush=True)
                        if out is not None:
                            _write(out, result)
                        previous, depth_max = now_metrics, 0.0
                        next_report += interval_s
                    await asyncio.sleep(1.0)

            first = await asyncio.to_thread(hub.metrics)
            watcher = asyncio.create_task(watch())
            stats = await asyncio.to_thread(generate, prefix, RATE, duration, 1)
            result.sent = stats.sent
            result.stored, _ = await wait_for_count(
                database_url,
                f"SELECT count(*) FROM measurements WHERE module_id LIKE '{prefix}-%'",
                stats.sent,
                settle=15.0,
                limit=600.0,
            )
            done.set()
            await watcher
            await monitor.close()
            last = await asyncio.to_thread(hub.metrics)
            result.lag_p99_ms = lag_quantile(first, last, 0.99)
            stop.set()
            clients.join(60)
            poller.join(60)
            result.socketio_received = int(received.value)
            result.socketio_drops = int(drops.value)
            if not history.empty():
                result.history_polls, result.history_errors, result.history_ms = history.get()
            cpu_seconds, wall = sampler.stop()
            result.cpu_percent = 100 * cpu_seconds / wall
            result.peak_rss_mb = sampler.peak_rss / 2**20
            result.finished = True
    finally:
        await drop_database(database_url)
    if out is not None:
        _write(out, result)
    return result


def _write(out: Path, result: SoakResult) -> None:
    document = asdict(result)
    document["wait_events"] = dict(result.wait_events.most_common())
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> SoakResult:
    """A result written by `--out` (complete or cut short)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    intervals = [Interval(**i) for i in document.pop("intervals")]
    wait_events = Counter(document.pop("wait_events"))
    return SoakResult(**document, intervals=intervals, wait_events=wait_events)


def table(result: SoakResult) -> Table:
    lost = result.sent - result.stored
    minutes = f"{result.minutes:g}"
    if not result.finished:
        ran = result.intervals[-1].minute if result.intervals else 0
        minutes = f"{minutes} (cut short at {ran:g})"
    table = Table(
        title=f"Soak: {RATE:,.0f} msg/s QoS 1 for {minutes} min, 10 Socket.IO clients, history polling",
        goal="nothing lost with Mosquitto's defaults, RSS flat, buffer depth bounded, lag p99 reported",
        command=f"python -m bench.soak --minutes {result.minutes:g}",
        columns=["minute", "RSS (MB)", "max buffer depth", "event-loop lag p99 (ms)",
                 "stored (total)", "spooled (total)", "write timeouts"],
    )  # fmt: skip
    step = max(1, len(result.intervals) // 20)
    for i in result.intervals[::step]:
        lag = "n/a" if i.lag_p99_ms is None else f"{i.lag_p99_ms:g}"
        table.rows.append(
            [f"{i.minute:g}", f"{i.rss_mb:.0f}", f"{i.depth_max:.0f}", lag,
             f"{i.stored:,.0f}", f"{i.spooled:,.0f}", f"{i.write_timeouts:.0f}"]
        )  # fmt: skip
    if result.finished:
        table.notes.append(
            f"Sent {result.sent:,} (acknowledged by the broker), stored {result.stored:,}, "
            f"lost {lost:,} ({100 * lost / max(result.sent, 1):.3f}%)."
        )
    elif result.intervals:
        last = result.intervals[-1]
        table.notes.append(
            f"Cut short: at minute {last.minute:g} sensorhub had stored {last.stored:,.0f} "
            f"readings ({last.stored / (last.minute * 60):,.0f}/s); sent and lost are unknown."
        )
    table.notes.append(
        f"Event-loop lag p99 over the run: {result.lag_p99_ms} ms (upper bound of its histogram "
        f"bucket); sensorhub CPU {result.cpu_percent:.0f}% of one core; peak RSS "
        f"{result.peak_rss_mb:.0f} MB."
    )
    if result.history_ms:
        ordered = sorted(result.history_ms)
        table.notes.append(
            f"REST history polls: {result.history_polls} ({result.history_errors} failed), "
            f"median {ordered[len(ordered) // 2]:.0f} ms, max {ordered[-1]:.0f} ms; Socket.IO: "
            f"{SOCKETIO_CLIENTS} clients each subscribed to one module received "
            f"{result.socketio_received:,} events, dropped by the server {result.socketio_drops} "
            "times (and reconnected)."
        )
    top = Counter(result.wait_events).most_common(6)
    if result.wait_samples:
        shares = ", ".join(f"{name} {n / result.wait_samples:.2f}" for name, n in top)
        table.notes.append(
            f"PostgreSQL active backends on the database by wait event, mean per 1 s sample "
            f"({result.wait_samples} samples): {shares}."
        )
    return table


async def run(quick: bool = False) -> list[Table]:
    minutes = 0.34 if quick else float(os.environ.get("BENCH_SOAK_MINUTES", "10"))
    result = await soak(minutes, interval_s=5.0 if quick else 60.0)
    return [table(result)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per report row")
    parser.add_argument("--out", type=Path, help="JSON written after every interval")
    parser.add_argument("--save", action="store_true", help="write bench/results/soak.json")
    parser.add_argument("--note", action="append", default=[], help="a note for the table")
    parser.add_argument("--report", type=Path, help="do not run: tabulate this --out file")
    args = parser.parse_args(argv)
    if args.report is not None:
        result = load(args.report)
    else:
        result = asyncio.run(soak(args.minutes, args.out, args.interval))
    tables = [table(result)]
    tables[0].notes.extend(args.note)
    if args.save:
        from bench.report import save

        print(f"wrote {save('soak', tables, quick=False)}")
    for line in tables[0].notes:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
