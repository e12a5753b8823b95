"""Statistics of `bench.latency`: percentiles, event-loop lag from a histogram, run summaries."""

from __future__ import annotations

import os
import statistics
from typing import Any

from bench.common import Table

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


def latency_table(report: dict[str, Any]) -> Table:
    """The docs/benchmarks.md table: one row per case, min / median / max over its runs."""
    table = Table(
        title="Latency: MQTT publish to Socket.IO client receive (ms), event-loop lag, CPU",
        goal=(
            "p99 <= 5 ms at 100 msg/s QoS 1 with 1 client (Node 4.3 ms); p99 <= 25 ms at "
            "1,000 msg/s x 50 clients; <= +8 us of server CPU per message for a client"
        ),
        command="python -m bench latency",
        columns=[
            "msg/s",
            "clients",
            "mode",
            "p50",
            "p99",
            "max",
            "loop lag p99 (bucket)",
            "loop lag max (bucket)",
            "server CPU us/msg",
            "lost",
            "clients dropped",
        ],
    )

    def spread(values: list[float] | None) -> str:
        return "-" if not values else " / ".join(f"{v:g}" for v in values)

    for s in report["summary"]:
        table.rows.append(
            [s["rate"], s["clients"], s["mode"], spread(s.get("p50")), spread(s.get("p99")),
             spread(s.get("max")), spread(s.get("lag_p99")), spread(s.get("lag_max")),
             spread(s.get("server_cpu_us_per_msg")), s["lost"], s["clients_dropped"]]
        )  # fmt: skip
    loads = [r["load_average"] for r in report["runs"]]
    table.notes += [
        f"{report['runs_per_case']} runs per case, each cell min / median / max; QoS "
        f"{report['runs'][0]['qos']} publishes carrying the send time; server, clients and "
        "publisher are separate processes.",
        "`single` clients ask for `mqtt-message` per message, `batch` clients for `mqtt:batch` "
        "frames (docs/live-events.md); 0 clients measures the CPU without Socket.IO.",
        "Loop lag: the bucket bounds of the server's `sensorhub_event_loop_lag_seconds` "
        "histogram holding the 99th percentile and the largest sample during the run.",
        f"The machine's {os.cpu_count()} cores were shared with other work during the runs "
        f"(load average {min(loads)}-{max(loads)}): latency and CPU figures vary with it.",
    ]
    return table
