"""`python -m bench.interpret_micro`: CPU µs per message of the ingest path alone, no broker, no I/O.

Two measurements, each min / median / max over `--runs` runs of the process CPU time
(`time.process_time`, which does not count time the shared machine spends on other work) divided
by the message count:

- `interpret` alone, on 100 modules × 8 sensors: `plain` numbers (`21.5`), `timed` documents
  (`{"value": …, "time": …}` with a recent epoch time), their `mix`, and `drain`: the exact
  messages of `python -m bench drain` (three-level topics, half plain numbers, half documents
  with an ISO 8601 time);
- `accept`: `IngestPipeline.accept` on the `drain` messages as QoS 1 deliveries, through the
  real buffer whose write does nothing: receipts, counting, batching and the per-batch future,
  i.e. what sensorhub spends per message between the MQTT client and the database driver. The
  loop yields to the flusher every 100 messages, as a socket read of that many would;
- `many`: the same through `IngestPipeline.accept_many`, 100 PUBLISH packets per call as the
  adapter hands over a socket read (the fast path of ingest/readings.py);
- `live`: `many` with a live sink that listens, and after each read the `mqtt-message` dicts
  the Socket.IO drain builds from what the sink was handed (`live_message`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.drain import messages as drain_messages
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.delivery import Delivery, Publish
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.spool import Spool
from sensorhub.live.events import live_message
from sensorhub.metrics import Metrics

SENSORS = {
    "temperature": 21.5,
    "humidity": 48.25,
    "co2": 612.0,
    "pressure": 1013.4,
    "pm25": 8.5,
    "voc": 101.0,
    "eco2": 420.0,
    "tvoc": 12.0,
}
"""Sensor type → a typical reading."""
READ_CHUNK = 100
"""Deliveries accepted between two yields to the event loop in the `accept` measurement."""


def workload(received: datetime) -> dict[str, list[tuple[str, bytes]]]:
    """(topic, payload) lists: `plain`, `timed`, `mix` (alternating the two) and `drain`."""
    epoch = received.timestamp()
    plain: list[tuple[str, bytes]] = []
    timed: list[tuple[str, bytes]] = []
    for module in range(100):
        for sensor, typical in SENSORS.items():
            topic = f"bench-{module:03d}/{sensor}"
            value = typical + module / 100
            plain.append((topic, f"{value}".encode()))
            document = {"value": value, "time": round(epoch - module, 3)}
            timed.append((topic, json.dumps(document).encode()))
    mix = [item for pair in zip(plain, timed, strict=True) for item in pair][: len(plain)]
    drain = list(drain_messages(len(plain)))
    return {"mix": mix, "plain": plain, "timed": timed, "drain": drain}


def cpu_per_message(messages: list[tuple[str, bytes]], repeat: int, received: datetime) -> float:
    """CPU µs per interpreted message over `repeat` passes."""
    for topic, payload in messages:  # warm the caches, and check every message is accepted
        result = interpret(topic, payload, received)
        if not hasattr(result, "measurement"):
            raise SystemExit(f"rejected in the workload: {result}")
    start = time.process_time()
    for _ in range(repeat):
        for topic, payload in messages:
            interpret(topic, payload, received)
    return (time.process_time() - start) / (repeat * len(messages)) * 1e6


async def _discard(batch: Batch) -> None:
    """A database write that takes every batch at once."""


async def accept_cpu_per_message(
    total: int, spool_dir: Path, many: bool = False, live: bool = False
) -> float:
    """CPU µs per `IngestPipeline.accept` (`accept_many` if `many`) of `total` drain messages
    (QoS 1, buffer included); with `live`, a listening live sink and its `mqtt-message` dicts."""
    metrics = Metrics()
    buffer = IngestBuffer(_discard, Spool(spool_dir, 1 << 20), metrics, max_size=100, max_age=0.5)
    heard: list[Any] = []
    pipeline = IngestPipeline(
        buffer,
        metrics,
        heard.append if live else None,
        listening=lambda: True,
        live_readings=heard.extend,
    )
    deliveries = [
        Delivery(topic, payload, 1, False, False, n % 65_535 + 1)
        for n, (topic, payload) in enumerate(drain_messages(total))
    ]
    publishes: list[Publish] = [(str(d.topic), d.payload, 2, d.packet_id) for d in deliveries]
    async with buffer.running():
        start = time.process_time()
        for first in range(0, total, READ_CHUNK):
            if many:
                pipeline.accept_many(publishes[first : first + READ_CHUNK])
            else:
                for delivery in deliveries[first : first + READ_CHUNK]:
                    pipeline.accept(delivery)
            if heard:
                [live_message(body) for body in heard]
                heard.clear()
            await asyncio.sleep(0)
        elapsed = time.process_time() - start
    if metrics.counts.accepted["measurement"] != total:
        raise SystemExit("the accept measurement lost messages")
    return elapsed / total * 1e6


def _report(name: str, runs: list[float], count: int) -> None:
    print(
        f"{name:>6}: µs/message min {min(runs):.2f}  median {statistics.median(runs):.2f}  "
        f"max {max(runs):.2f}  ({len(runs)} runs × {count} messages)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.interpret_micro", description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run")
    parser.add_argument("--only", choices=["accept", "many", "live"], help="only this measurement")
    args = parser.parse_args()
    received = datetime.now(UTC)
    if args.only is None:
        for name, messages in workload(received).items():
            repeat = max(1, args.messages // len(messages))
            runs = [cpu_per_message(messages, repeat, received) for _ in range(args.runs)]
            _report(name, runs, repeat * len(messages))
    for name in ["accept", "many", "live"] if args.only is None else [args.only]:
        with tempfile.TemporaryDirectory(prefix="bench-accept-") as directory:
            runs = [
                asyncio.run(
                    accept_cpu_per_message(
                        args.messages,
                        Path(directory) / f"spool{n}",
                        many=name != "accept",
                        live=name == "live",
                    )
                )
                for n in range(args.runs)
            ]
        _report(name, runs, args.messages)


if __name__ == "__main__":
    main()
