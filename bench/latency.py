"""End-to-end live latency: MQTT publish → Socket.IO client receive (p50/p95/p99).

Three kinds of processes, so no side's work distorts another's timing: `sensorhub serve` (a
subprocess against a fresh database on the local PostgreSQL and the local Mosquitto), one
client process holding all Socket.IO connections, and this process, which publishes at a fixed
rate. Each payload is the send time in microseconds since the epoch (sensor type `latency`, which
has no plausible range); a client subtracts it from its receive time (one machine, one clock).

The clients speak Engine.IO 4 / Socket.IO 5 over a WebSocket directly (no polling, no
compression), which costs them far less CPU than python-socketio's client; on a two-core machine
the client side would otherwise be what is measured.

    python -m bench.latency                       # 100, 1000, 5000 msg/s, 1 and 50 clients
    python -m bench.latency --rates 100 --clients 1 --duration 5

Writes `bench/results/latency.json` and returns the same dict from `run()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"
RATES = (100, 1000, 5000)
CLIENTS = (1, 50)
DURATION = 10.0
WARMUP = 1.0
GRACE = 3.0
RESULTS = Path(__file__).parent / "results" / "latency.json"


def run(
    rates: Sequence[int] = RATES,
    client_counts: Sequence[int] = CLIENTS,
    *,
    duration: float = DURATION,
    warmup: float = WARMUP,
    qos: int = 0,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_BROKER_URL,
    output: Path | None = RESULTS,
) -> dict[str, Any]:
    """Measure every (rate, clients) pair against one sensorhub; write and return the results."""
    report = asyncio.run(
        _run(rates, client_counts, duration, warmup, qos, database_url, broker_url)
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
) -> dict[str, Any]:
    module = f"bench-{uuid.uuid4().hex[:8]}"
    runs: list[dict[str, Any]] = []
    async with (
        _fresh_database(database_url) as db_url,
        _sensorhub(db_url, broker_url, module) as (base_url, server),
        _publisher(broker_url, f"{module}-pub") as mqtt,
    ):
        for clients in client_counts:
            for rate in rates:
                result = await _measure(
                    base_url, server, mqtt, module, rate, clients, duration, warmup, qos
                )
                print(_line(result), file=sys.stderr, flush=True)
                runs.append(result)
    report = {
        "benchmark": "latency: MQTT publish -> Socket.IO client receive",
        "unit": "ms",
        "duration_s": duration,
        "qos": qos,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
    }
    return report


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
) -> dict[str, Any]:
    before = await _metrics(base_url)
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_clients_main, args=(base_url, clients, child), daemon=True
    )
    process.start()
    try:
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, _recv, parent, 60.0)
        if ready != "ready":
            raise RuntimeError(f"clients did not connect: {ready}")
        await _publish(mqtt, f"{module}/warmup/latency", rate, warmup, qos)
        cpu_before = _cpu_seconds(server.pid)
        sent = await _publish(mqtt, f"{module}/latency", rate, duration, qos)
        cpu = _cpu_seconds(server.pid) - cpu_before
        await asyncio.sleep(GRACE)
        parent.send("stop")
        stats: dict[str, Any] = await loop.run_in_executor(None, _recv, parent, 120.0)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    after = await _metrics(base_url)
    expected = sent * clients
    return {
        "rate": rate,
        "clients": clients,
        "sent": sent,
        "ingested": after["ingested"] - before["ingested"],  # by sensorhub, warm-up included
        "received": stats["received"],
        "expected": expected,
        "lost": expected - stats["received"],
        "clients_dropped": after["dropped"] - before["dropped"],
        "events_dropped": after["events_dropped"] - before["events_dropped"],
        "server_cpu": round(cpu / duration, 3),
        "client_cpu": stats["client_cpu"],
        "load_average": round(os.getloadavg()[0], 2),
        **stats["latency"],
    }


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['rate']:>5} msg/s, {r['clients']:>2} clients: "
        f"p50 {r['p50']} ms  p95 {r['p95']} ms  p99 {r['p99']} ms  max {r['max']} ms  "
        f"ingested {r['ingested']:.0f} received {r['received']}/{r['expected']}  dropped clients {r['clients_dropped']}  "
        f"CPU server {r['server_cpu']:.0%} clients {r['client_cpu']:.0%}  load {r['load_average']}"
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


# --- the client process ------------------------------------------------------------------------


def _clients_main(base_url: str, count: int, pipe: multiprocessing.connection.Connection) -> None:
    try:
        asyncio.run(_clients(base_url, count, pipe))
    except Exception as error:  # reported to the parent, which fails the run
        pipe.send(f"error: {error!r}")


async def _clients(base_url: str, count: int, pipe: multiprocessing.connection.Connection) -> None:
    from websockets.asyncio.client import connect

    parts = urlsplit(base_url)
    url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
    latencies: list[float] = []
    received = [0] * count

    async def client(index: int, connected: asyncio.Event) -> None:
        async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
            opened = await ws.recv()
            if not str(opened).startswith("0"):
                raise RuntimeError(f"unexpected open packet {opened!r}")
            await ws.send("40")
            joined = await ws.recv()
            if not str(joined).startswith("40"):
                raise RuntimeError(f"unexpected connect packet {joined!r}")
            connected.set()
            async for message in ws:
                now_us = time.time_ns() / 1000
                if message == "2":  # engine.io ping
                    await ws.send("3")
                    continue
                if not isinstance(message, str) or not message.startswith('42["mqtt-message"'):
                    continue
                event = json.loads(message[2:])[1]
                if "/warmup/" in event["topic"]:
                    continue
                latencies.append((now_us - event["value"]) / 1000)
                received[index] += 1

    connected = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(client(i, connected[i])) for i in range(count)]
    deadline = time.monotonic() + 30
    while not all(event.is_set() for event in connected):
        failed = [task for task in tasks if task.done()]
        if failed:
            failed[0].result()  # raises the client's error
            raise RuntimeError("a client stopped before connecting")
        if time.monotonic() > deadline:
            raise RuntimeError("clients did not connect within 30 s")
        await asyncio.sleep(0.05)
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    cpu_before, wall_before = time.process_time(), time.monotonic()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(
        {"received": sum(received), "client_cpu": round(cpu, 3), "latency": _summary(latencies)}
    )


def _summary(values: list[float]) -> dict[str, float | None]:
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


async def _metrics(base_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return {
        "dropped": values.get("sensorhub_socketio_clients_dropped_total", 0.0),
        "events_dropped": values.get("sensorhub_socketio_events_dropped_total", 0.0),
        "ingested": values.get("sensorhub_messages_received_total", 0.0),
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
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES))
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds per run")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=0)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="server URL")
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    report = run(
        args.rates,
        args.clients,
        duration=args.duration,
        qos=args.qos,
        database_url=args.database_url,
        broker_url=args.broker_url,
        output=args.output,
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
