"""One simulation split over spawned worker processes, so that it can use several cores.

Each worker runs `run_simulation` on its share of the modules (`split_options`) and reports its
running totals and its final totals over a queue; the parent merges them (`merge_stats`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import signal
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from typing import Any, TypeAlias

from sensorhub.simulate.options import (
    SimulationOptions,
    SimulationStats,
    merge_stats,
    split_options,
)
from sensorhub.simulate.simulation import DRAIN_TIMEOUT, run_simulation

STOP_POLL = 0.2  # seconds between a worker's looks at the shared stop event
RESULT_POLL = 1.0  # seconds the parent waits for a worker's report before checking liveness
PROGRESS_INTERVAL = 1.0  # seconds between merged progress reports

# ("progress" | "done", worker number, SimulationStats) or ("error", worker number, text)
Results: TypeAlias = "Queue[tuple[str, int, Any]]"


def run_simulation_processes(
    options: SimulationOptions,
    processes: int,
    progress: Callable[[SimulationStats], None] | None = None,
) -> SimulationStats:
    """Run the simulation split over worker processes (spawned), so it can use several cores.

    Stops after `options.duration`, or on KeyboardInterrupt in the caller.

    Raises:
        RuntimeError: a worker failed or exited without a result (the message says which).
    """
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results: Results = context.Queue()
    parts = split_options(options, processes)
    workers = [
        context.Process(target=_worker, args=(number, part, stop, results), daemon=True)
        for number, part in enumerate(parts)
    ]
    for worker in workers:
        worker.start()
    latest: dict[int, SimulationStats] = {}
    final: dict[int, SimulationStats] = {}
    failures: list[str] = []
    reported = time.monotonic()
    try:
        while len(final) + len(failures) < len(workers):
            try:
                kind, number, payload = results.get(timeout=RESULT_POLL)
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and results.empty():
                    failures.append("a worker exited without a result")
                continue
            except KeyboardInterrupt:
                # Workers ignore SIGINT: they stop on `stop`, then report their totals.
                stop.set()
                continue
            if kind == "progress":
                latest[number] = payload
                if progress is not None and time.monotonic() - reported >= PROGRESS_INTERVAL:
                    reported = time.monotonic()
                    progress(
                        merge_stats(
                            [
                                final.get(n) or latest.get(n) or SimulationStats()
                                for n in range(len(workers))
                            ]
                        )
                    )
            elif kind == "done":
                final[number] = payload
            else:
                failures.append(str(payload))
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=DRAIN_TIMEOUT + 15)
    if failures:
        raise RuntimeError("simulation worker failed: " + "; ".join(failures))
    return merge_stats(list(final.values()))


def _worker(number: int, options: SimulationOptions, stop: Any, results: Results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        stats = asyncio.run(_worker_main(number, options, stop, results))
        results.put(("done", number, stats))
    except Exception as exc:
        results.put(("error", number, f"{type(exc).__name__}: {exc}"))


async def _worker_main(
    number: int, options: SimulationOptions, stop: Any, results: Results
) -> SimulationStats:
    local_stop = asyncio.Event()

    async def watch() -> None:
        # A multiprocessing Event can't be awaited; polling it is cheap.
        while not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(STOP_POLL)
        local_stop.set()

    watcher = asyncio.create_task(watch())
    try:
        return await run_simulation(
            options, local_stop, lambda stats: results.put(("progress", number, stats))
        )
    finally:
        watcher.cancel()
