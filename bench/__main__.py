"""`python -m bench all | ingest | latency | api | series | storage | soak | smoke | report`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable

from bench.common import Table
from bench.report import render, save

BENCHMARKS = ["ingest", "ingest_tuned", "latency", "api", "series", "storage", "scale"]
LONG = ["drain", "live", "soak"]


async def latency_tables(quick: bool) -> list[Table]:
    """bench.latency measures; this turns its runs into the document's table."""
    from bench import latency

    rates = (100,) if quick else latency.RATES
    clients = (1,) if quick else latency.CLIENTS
    report = await latency._run(
        rates,
        clients,
        2.0 if quick else latency.DURATION,
        0.5 if quick else latency.WARMUP,
        0,
        latency.DEFAULT_DATABASE_URL,
        latency.DEFAULT_BROKER_URL,
    )
    table = Table(
        title="Latency: MQTT publish to Socket.IO client receive (ms)",
        goal="≤ seed at 100 msg/s with 1 client (p50 1.4, p99 3.3-4.3); p99 < 25 ms at 1,000 msg/s with 50 clients",
        command="python -m bench latency",
        columns=[
            "msg/s",
            "clients",
            "p50",
            "p95",
            "p99",
            "max",
            "received / expected",
            "clients dropped",
            "server CPU",
            "load avg",
        ],
    )
    for r in report["runs"]:
        table.rows.append(
            [r["rate"], r["clients"], r["p50"], r["p95"], r["p99"], r["max"], f"{r['received']}/{r['expected']}",
             r["clients_dropped"], f"{r['server_cpu']:.0%}", r["load_average"]]
        )  # fmt: skip
    table.notes.append(
        "QoS 0 publishes with the send time in the payload; server, clients and publisher are separate processes."
    )
    return [table]


def _runner(name: str) -> Callable[[bool], Awaitable[list[Table]]]:
    if name == "latency":
        return latency_tables
    module = importlib.import_module(f"bench.{name}")
    run: Callable[[bool], Awaitable[list[Table]]] = module.run
    return run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, *LONG, "all", "smoke", "report"])
    args = parser.parse_args()
    if args.name == "report":
        print(f"wrote {render()}")
        return 0
    quick = args.name == "smoke"
    names = BENCHMARKS if args.name in {"all", "smoke"} else [args.name]
    for name in names:
        print(f"bench {name}{' (smoke)' if quick else ''} …", flush=True)
        tables = asyncio.run(_runner(name)(quick))
        path = save(name, tables, quick=quick)
        for table in tables:
            print(f"  {table.title}: {len(table.rows)} rows", flush=True)
        print(f"  wrote {path}", flush=True)
    if not quick:
        print(f"wrote {render()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
