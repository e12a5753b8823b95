"""Statistics of `bench.latency`: percentiles, event-loop lag from a histogram, run summaries."""

from __future__ import annotations

import statistics
from typing import Any

Case = tuple[int, int, str, int]
"""(messages per second, Socket.IO clients, mode `single` or `batch`, QoS)."""


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3)

    return {
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


def loop_lag(before: dict[float, float], after: dict[float, float]) -> dict[str, float | None]:
    """Event-loop lag during the run from the histogram's cumulative buckets (ms bounds)."""
    counts = {bound: after.get(bound, 0.0) - before.get(bound, 0.0) for bound in after}
    total = counts.get(float("inf"), 0.0)
    if total <= 0:
        return {"lag_p99": None, "lag_max": None, "lag_samples": 0}
    bounds = sorted(counts)
    p99 = next(b for b in bounds if counts[b] >= 0.99 * total)
    highest = next(b for b in bounds if counts[b] >= total)
    return {
        "lag_p99": ms_bound(p99, bounds),
        "lag_max": ms_bound(highest, bounds),
        "lag_samples": int(total),
    }


def ms_bound(bound: float, bounds: list[float]) -> float:
    """A bucket's upper bound in ms (+Inf: the largest finite bound, meaning "above it")."""
    finite = bound if bound != float("inf") else bounds[-2]
    return round(finite * 1000, 2)


SUMMARIZED = ("p50", "p99", "max", "lag_p99", "lag_max", "server_cpu_us_per_msg")


def summarize(case: Case, results: list[dict[str, Any]]) -> dict[str, Any]:
    """min/median/max over the runs of a case, per figure."""
    rate, clients, mode, qos = case
    mine = [
        r
        for r in results
        if (r["rate"], r["clients"], r["mode"], r["qos"]) == (rate, clients, mode, qos)
    ]
    summary: dict[str, Any] = {"rate": rate, "clients": clients, "mode": mode, "qos": qos}
    for key in SUMMARIZED:
        values = [r[key] for r in mine if r.get(key) is not None]
        if values:
            summary[key] = [min(values), round(statistics.median(values), 3), max(values)]
    summary["lost"] = sum(r["lost"] for r in mine)
    summary["clients_dropped"] = sum(r["clients_dropped"] for r in mine)
    return summary
