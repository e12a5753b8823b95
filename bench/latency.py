"""End-to-end live latency: MQTT publish → Socket.IO client receive, and event-loop lag.

Three kinds of processes, so no side's work distorts another's timing: `sensorhub serve` (a
subprocess against a fresh database on the local PostgreSQL and the local Mosquitto), one
client process holding all Socket.IO connections (`bench.latency_clients`), and this process,
which publishes at a fixed rate. Each payload is the send time in microseconds since the epoch
(sensor type `latency`, which has no plausible range).

A case is (rate, clients, mode, QoS): mode `single` clients ask for `mqtt-message` per message,
`batch` clients for `mqtt:batch` frames (docs/live-events.md). Every case runs `--runs` times
against one server, in rounds that run each case in turn (so that the server's warm-up and the
machine's drift do not fall on the first case: 0 clients against 1 client compares alike); the
summary gives min/median/max over the runs of p50/p99 latency, the server's event-loop lag
(its `sensorhub_event_loop_lag_seconds` histogram: the bucket bound holding the 99th
percentile and the highest bucket reached) and the server's CPU time per message (from /proc). `clients` 0 measures the CPU without any Socket.IO client.

    python -m bench.latency                          # the cases of docs/benchmarks.md, 3 runs
    python -m bench.latency --rates 100 --clients 1 --modes single --qos 1 --runs 1

Writes `bench/results/raw/latency.json` and returns the same dict from `run()`;
`python -m bench latency` runs the same cases and renders them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from gmqtt import Client as MqttClient
from gmqtt.mqtt.constants import MQTTv311

from bench.common import create_database, drop_database
from bench.latency_clients import clients_main
from bench.latency_stats import Case, loop_lag, summarize

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"
RATES = (100, 1000, 5000)
CLIENTS = (1, 50)
STANDARD: tuple[Case, ...] = (
    (100, 1, "single", 1),  # issue 14: p99 <= 5 ms
    (1000, 50, "batch", 1),  # issue 14: p99 <= 25 ms
    (1000, 50, "single", 1),  # the same without coalescing, for comparison
    (5000, 0, "single", 1),  # CPU per message without Socket.IO clients ...
    (5000, 1, "single", 1),  # ... and with one: the extra cost of a client
    (5000, 1, "batch", 1),  # ... or one batched client
)
RUNS = 3
DURATION = 10.0
WARMUP = 1.0
GRACE = 3.0
RESULTS = Path(__file__).parent / "results" / "raw" / "latency.json"
"""Outside `results/*.json`, which `python -m bench report` renders (their format differs)."""


def run(
    cases: Sequence[Case] = STANDARD,
    *,
    runs: int = RUNS,
    duration: float = DURATION,
    warmup: float = WARMUP,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_BROKER_URL,
    output: Path | None = RESULTS,
) -> dict[str, Any]:
    """Measure every case `runs` times against one sensorhub (rounds of every case in turn);
    write and return the results."""
    report = asyncio.run(
        _run_cases(cases, runs, duration, warmup, database_url, broker_url, output is not None)
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    return report


async def _run(
    rates: Sequence[int],
    client_counts: Sequence[int],
    duration: float,
    warmup: float,
    qos: int,
    database_url: str,
    broker_url: str,
    *,
    mode: str = "single",
) -> dict[str, Any]:
    """Every (rate, clients) pair once (what `python -m bench latency` tabulates)."""
    cases = [(rate, clients, mode, qos) for clients in client_counts for rate in rates]
    return await _run_cases(cases, 1, duration, warmup, database_url, broker_url, True)


async def _run_cases(
    cases: Sequence[Case],
    runs: int,
    duration: float,
    warmup: float,
    database_url: str,
    broker_url: str,
    verbose: bool,
) -> dict[str, Any]:
    module = f"bench-{uuid.uuid4().hex[:8]}"
    results: list[dict[str, Any]] = []
    async with (
        _fresh_database(database_url) as db_url,
        _sensorhub(db_url, broker_url, module) as (base_url, server),
        _publisher(broker_url, f"{module}-pub") as mqtt,
    ):
        for _, (rate, clients, mode, qos) in itertools.product(range(runs), cases):
            result = await _measure(
                base_url, server, mqtt, module, rate, clients, duration, warmup, qos, mode
            )
            if verbose:
                print(_line(result), file=sys.stderr, flush=True)
            results.append(result)
    return {
        "benchmark": "latency: MQTT publish -> Socket.IO client receive; event-loop lag",
        "unit": "ms",
        "duration_s": duration,
        "runs_per_case": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2 cores shared with other work; figures vary from run to run",
        },
        "runs": results,
        "summary": [summarize(case, results) for case in dict.fromkeys(cases)],
    }


async def _measure(
    base_url: str,
    server: subprocess.Popen[bytes],
    mqtt: MqttClient,
    module: str,
    rate: int,
    clients: int,
    duration: float,
    warmup: float,
    qos: int,
    mode: str,
) -> dict[str, Any]:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=clients_main, args=(base_url, clients, mode, child), daemon=True
    )
    process.start()
    try:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, _recv, parent, 60.0)
        if ready != "ready":
            raise RuntimeError(f"clients did not connect: {ready}")
        await _publish(mqtt, f"{module}/warmup/latency", rate, warmup, qos)
        before = await _metrics(base_url)
        cpu_before = _cpu_seconds(server.pid)
        sent = await _publish(mqtt, f"{module}/latency", rate, duration, qos)
        cpu = _cpu_seconds(server.pid) - cpu_before
        await asyncio.sleep(GRACE)
        after = await _metrics(base_url)
        parent.send("stop")
        stats: dict[str, Any] = await loop.run_in_executor(None, _recv, parent, 120.0)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    expected = sent * clients
    return {
        "rate": rate,
        "clients": clients,
        "mode": mode,
        "qos": qos,
        "sent": sent,
        "ingested": after["ingested"] - before["ingested"],
        "received": stats["received"],
        "frames": stats["frames"],
        "expected": expected,
        "lost": expected - stats["received"],
        "clients_dropped": after["dropped"] - before["dropped"],
        "events_dropped": after["events_dropped"] - before["events_dropped"],
        "server_cpu": round(cpu / duration, 3),
        "server_cpu_us_per_msg": round(cpu / sent * 1e6, 1) if sent else None,
        "client_cpu": stats["client_cpu"],
        "load_average": round(os.getloadavg()[0], 2),
        **loop_lag(before["lag"], after["lag"]),
        **stats["latency"],
    }


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['rate']:>5} msg/s, {r['clients']:>2} {r['mode']} clients, QoS {r['qos']}: "
        f"p50 {r['p50']} ms  p99 {r['p99']} ms  max {r['max']} ms  "
        f"loop lag p99 <= {r['lag_p99']} ms max <= {r['lag_max']} ms  "
        f"received {r['received']}/{r['expected']} in {r['frames']} frames  "
        f"dropped clients {r['clients_dropped']}  CPU server {r['server_cpu']:.0%} "
        f"({r['server_cpu_us_per_msg']} µs/msg) clients {r['client_cpu']:.0%}  "
        f"load {r['load_average']}"
    )


async def _publish(mqtt: MqttClient, topic: str, rate: int, seconds: float, qos: int) -> int:
    """Publish `rate` messages a second for `seconds`, each carrying its send time (µs)."""
    total = round(rate * seconds)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            mqtt.publish(topic, str(time.time_ns() // 1000), qos=qos)
            sent += 1
        await asyncio.sleep(max(0.0, sent / rate - (time.perf_counter() - start)))
    return sent


def _recv(pipe: multiprocessing.connection.Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError("the client process did not answer")
    return pipe.recv()


# --- the server, the database and the publisher ------------------------------------------------


@contextlib.asynccontextmanager
async def _fresh_database(server_url: str) -> Any:
    url = await create_database("bench_latency", server_url=server_url)
    try:
        yield url
    finally:
        await drop_database(url, server_url=server_url)


@contextlib.asynccontextmanager
async def _sensorhub(database_url: str, broker_url: str, module: str) -> Any:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="sensorhub-bench-") as data_dir:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MQTT_URL": broker_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATA_DIR": data_dir,
            "MQTT_TOPICS": f"{module}/#",
            "MQTT_CLIENT_ID": f"{module}-server",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("REDIS_URL", None)
        server = _spawn([sys.executable, "-m", "sensorhub", "serve"], env)
        base_url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(base_url, server)
            yield base_url, server
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


async def _wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"sensorhub exited with {server.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("sensorhub did not become ready within 60 s")


async def _metrics(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    lag = {
        float(name.split('le="', 1)[1].split('"', 1)[0]): value
        for name, value in values.items()
        if name.startswith("sensorhub_event_loop_lag_seconds_bucket")
    }
    return {
        "dropped": values.get("sensorhub_socketio_clients_dropped_total", 0.0),
        "events_dropped": values.get("sensorhub_socketio_events_dropped_total", 0.0),
        "ingested": values.get("sensorhub_messages_received_total", 0.0),
        "lag": lag,
    }


@contextlib.asynccontextmanager
async def _publisher(broker_url: str, client_id: str) -> Any:
    parts = urlsplit(broker_url)
    client = MqttClient(client_id)
    await client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, version=MQTTv311)
    try:
        yield client
    finally:
        await client.disconnect()


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), 0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: Iterator[str] | Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--rates", type=int, nargs="+", help="with --clients: cases to run")
    parser.add_argument("--clients", type=int, nargs="+", default=[1])
    parser.add_argument("--modes", nargs="+", choices=("single", "batch"), default=["single"])
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds per run")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="server URL")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    cases: Sequence[Case] = STANDARD
    if args.rates:
        cases = list(itertools.product(args.rates, args.clients, args.modes, [args.qos]))
    report = run(
        cases,
        runs=args.runs,
        duration=args.duration,
        database_url=args.database_url,
        broker_url=args.broker_url,
        output=args.output,
    )
    print(json.dumps(report["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
