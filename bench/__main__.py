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
    """bench.latency measures (issue 14's cases, 3 runs each); bench.latency_stats tabulates."""
    from bench import latency
    from bench.latency_stats import latency_table

    cases = [(100, 1, "single", 0)] if quick else latency.STANDARD
    report = await latency._run_cases(
        cases,
        1 if quick else latency.RUNS,
        2.0 if quick else latency.DURATION,
        0.5 if quick else latency.WARMUP,
        latency.DEFAULT_DATABASE_URL,
        latency.DEFAULT_BROKER_URL,
        True,
    )
    return [latency_table(report)]


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
