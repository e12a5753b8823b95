"""`python -m bench live`: fixed-rate QoS 1 ingest, CPU per message of sensorhub, PostgreSQL,
broker, without and with one Socket.IO client.

A publisher process sends plain numbers from 100 modules × 4 sensors at QoS 1 at a fixed rate
(2,000 and 5,000 msg/s for 30 s; 2,000 msg/s for 5 s with `--quick`) to a Mosquitto of the
benchmark's own; sensorhub runs with its default settings. Each rate runs three cases: no
Socket.IO client, one `single` client (an `mqtt-message` event per message, what the seed's
dashboard gets) and one `batch` client (`mqtt:batch` frames), the client held by
`bench.latency_clients` in a process of its own and connected before the first message. CPU
time comes from /proc (psutil) for sensorhub's process, the PostgreSQL backends of the
benchmark's database and the broker, from the first message until every message is stored.

Every run has a fresh database, broker and sensorhub, and the cases alternate (0, single, batch,
0, single, batch, …) so that warm-up and the shared machine's drift fall on every case alike.
A client's cost, "extra sensorhub µs/msg", is the difference to the 0-client run of the same
round (paired), min / median / max over the rounds; the other cells are min / median / max of
the runs (three per case, one with `--quick`).

    python -m bench live                                  # docs/benchmarks.md's table
    python -m bench.live --rates 5000 --runs 2 --seconds 20   # an A/B round (printed only)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from bench.common import (
    ProcessSampler,
    Table,
    create_database,
    drop_database,
    sensorhub,
    wait_for_count,
)
from bench.drain import postgres_cpu, private_broker
from bench.latency_clients import clients_main

MODULES, SENSORS = 100, 4
RUNS = 3
TICK = 0.01
CASES = ("0", "single", "batch")
"""No client, one `mqtt-message` client, one `mqtt:batch` client (bench.latency_clients modes)."""
RATES = (2_000, 5_000)
SECONDS = 30.0


def _publish(port: int, rate: int, seconds: float, sent: Synchronized[int]) -> None:
    """Publish for `seconds` at up to `rate` msg/s; `sent` receives how many were published (a
    loaded machine publishes fewer than rate × seconds)."""

    async def run() -> None:
        client = Client(f"live-pub-{uuid.uuid4().hex[:6]}")
        await client.connect("127.0.0.1", port, version=MQTTv50)
        per_tick, n = max(1, round(rate * TICK)), 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            for _ in range(per_tick):
                topic = f"live-{n % MODULES:03d}/s{(n // MODULES) % SENSORS}/temperature"
                client.publish(topic, f"{20 + n % 100 / 10}", qos=1)
                n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        await client._persistent_storage.wait_empty()
        await client.disconnect()
        sent.value = n

    asyncio.run(run())


@contextlib.contextmanager
def _client(base_url: str, case: str) -> Iterator[multiprocessing.connection.Connection | None]:
    """One Socket.IO client of mode `case` in a process of its own, connected (None for "0")."""
    if case == "0":
        yield None
        return
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=clients_main, args=(base_url, 1, case, child), daemon=True)
    process.start()
    try:
        if not parent.poll(60) or (ready := parent.recv()) != "ready":
            raise RuntimeError(f"the Socket.IO client did not connect: {ready!r}")
        yield parent
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()


def _client_stats(pipe: multiprocessing.connection.Connection | None) -> dict[str, Any]:
    if pipe is None:
        return {"received": 0, "frames": 0}
    pipe.send("stop")
    if not pipe.poll(120):
        raise RuntimeError("the Socket.IO client did not answer")
    stats = pipe.recv()
    if not isinstance(stats, dict):
        raise RuntimeError(f"the Socket.IO client failed: {stats}")
    return stats


async def one_run(rate: int, seconds: float, case: str = "0") -> dict[str, Any]:
    """One run of `case` at `rate`: fresh database, broker and sensorhub."""
    database_url = await create_database("live")
    database = database_url.rsplit("/", 1)[1]
    try:
        with private_broker() as (broker_url, broker):
            port = int(broker_url.rsplit(":", 1)[1])
            env = {"MQTT_URL": broker_url, "MQTT_CLIENT_ID": f"live-{uuid.uuid4().hex[:8]}"}
            with sensorhub(database_url, "#", **env) as hub, _client(hub.base_url, case) as pipe:
                broker_cpu, pg_cpu = sum(broker.cpu_times()[:2]), postgres_cpu(database)
                sampler = ProcessSampler(hub.process.pid).start()
                system = sampler.process.cpu_times().system
                sent = multiprocessing.Value("q", 0)
                publisher = multiprocessing.Process(
                    target=_publish, args=(port, rate, seconds, sent)
                )
                publisher.start()
                await asyncio.to_thread(publisher.join)
                if publisher.exitcode != 0:
                    raise RuntimeError(f"publisher exited with code {publisher.exitcode}")
                expected = sent.value
                stored, _ = await wait_for_count(
                    database_url,
                    "SELECT count(*) FROM measurements",
                    expected,
                    settle=12,
                    limit=120,
                )
                cpu, _ = sampler.stop()
                system = sampler.process.cpu_times().system - system
                pg_cpu = postgres_cpu(database) - pg_cpu
                broker_cpu = sum(broker.cpu_times()[:2]) - broker_cpu
                clients = await asyncio.to_thread(_client_stats, pipe)
                dropped = hub.metric("sensorhub_socketio_clients_dropped_total")
        return {
            "rate": rate,
            "case": case,
            "stored": stored,
            "sent": expected,
            "events": clients["received"],
            "frames": clients["frames"],
            "clients_dropped": dropped,
            "sensorhub_us": cpu / stored * 1e6,
            "sensorhub_system_us": system / stored * 1e6,
            "postgres_us": pg_cpu / stored * 1e6,
            "broker_us": broker_cpu / stored * 1e6,
            "load_average": os.getloadavg()[0],
        }
    finally:
        await drop_database(database_url)


def _spread(values: Sequence[float], sign: bool = False) -> str:
    if not values:
        return "-"
    spec = "+,.1f" if sign else ",.1f"
    picked = (min(values), statistics.median(values), max(values))
    return " / ".join(format(v, spec) for v in picked)


def extra_cpu(runs: list[dict[str, Any]], rate: int, case: str) -> list[float]:
    """`case`'s sensorhub µs/msg minus that of the 0-client run of the same round, per round."""
    base = [r["sensorhub_us"] for r in runs if r["rate"] == rate and r["case"] == "0"]
    mine = [r["sensorhub_us"] for r in runs if r["rate"] == rate and r["case"] == case]
    return [m - b for m, b in zip(mine, base, strict=False)]


async def measure(
    rates: Sequence[int], seconds: float, rounds: int, cases: Sequence[str] = CASES
) -> list[dict[str, Any]]:
    """Every case of every rate `rounds` times, the cases alternating within each round."""
    runs: list[dict[str, Any]] = []
    for rate in rates:
        for _ in range(rounds):
            for case in cases:
                result = await one_run(rate, seconds, case)
                runs.append(result)
                print(f"  {json.dumps(result)}", flush=True)
    return runs


def table(runs: list[dict[str, Any]], command: str = "python -m bench live") -> Table:
    """docs/benchmarks.md's table: one row per rate and case."""
    result = Table(
        title="Live QoS 1 ingest at a fixed rate, without and with one Socket.IO client",
        goal=(
            "≤ 15 µs backend, ≤ 15 µs PostgreSQL, ≤ 13 µs broker CPU per message at 5,000 msg/s; "
            "a Socket.IO client ≤ +8 µs backend CPU per message"
        ),
        command=command,
        columns=[
            "msg/s",
            "client",
            "stored / sent",
            "events received",
            "sensorhub µs/msg",
            "extra sensorhub µs/msg",
            "PostgreSQL µs/msg",
            "broker µs/msg",
        ],
    )
    for rate in dict.fromkeys(r["rate"] for r in runs):
        for case in dict.fromkeys(r["case"] for r in runs if r["rate"] == rate):
            mine = [r for r in runs if r["rate"] == rate and r["case"] == case]
            received = "-" if case == "0" else f"{sum(r['events'] for r in mine):,}"
            row = [
                f"{rate:,}",
                "none" if case == "0" else f"1 {case}",
                f"{sum(r['stored'] for r in mine):,.0f} / {sum(r['sent'] for r in mine):,.0f}",
                received,
                _spread([r["sensorhub_us"] for r in mine]),
                "-" if case == "0" else _spread(extra_cpu(runs, rate, case), sign=True),
                _spread([r["postgres_us"] for r in mine]),
                _spread([r["broker_us"] for r in mine]),
            ]
            result.rows.append(row)
    loads = [r["load_average"] for r in runs]
    rounds = max(sum(1 for r in runs if r["rate"] == runs[0]["rate"] and r["case"] == "0"), 1)
    result.notes += [
        f"Plain numbers from {MODULES} modules × {SENSORS} sensors; publisher in its own process; "
        "CPU from /proc, from the first message until all are stored; stored / sent and events "
        "received: totals over the runs, sent as counted by the publisher.",
        f"{rounds} round(s) per rate, each running the cases in turn (no client, 1 `single` "
        "client: `mqtt-message` per message, 1 `batch` client: `mqtt:batch` frames), every run "
        "on a fresh database, broker and sensorhub; the client in its own process (not "
        "counted). Extra sensorhub µs/msg: the case's run minus the same round's run without a "
        "client; cells are min / median / max.",
        f"Load average (1 min) at the end of the runs: {min(loads):.1f}–{max(loads):.1f}.",
    ]
    return result


async def run(quick: bool = False) -> list[Table]:
    if quick:
        runs = await measure([2_000], 5.0, 1)
    else:
        runs = await measure(RATES, SECONDS, RUNS)
    return [table(runs)]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__)
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES))
    parser.add_argument("--runs", type=int, default=RUNS, help="rounds of the cases per rate")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--json", help="also write the runs to this file")
    args = parser.parse_args()
    runs = asyncio.run(measure(args.rates, args.seconds, args.runs, args.cases))
    if args.json:
        with open(args.json, "w") as output:
            json.dump(runs, output, indent=2)
    result = table(runs, "python -m bench.live " + " ".join(sys.argv[1:]))
    print(" | ".join(result.columns))
    for row in result.rows:
        print(" | ".join(map(str, row)))
    for note in result.notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
