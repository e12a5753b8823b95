"""`python -m bench.interpret_micro`: CPU µs per message of `interpret` alone, no broker, no I/O.

The workload is the drain benchmark's: 100 modules × 8 sensors, half plain numbers (`21.5`),
half `{"value": …, "time": …}` with a recent epoch time. Each run interprets the whole mix
`--messages` times over and divides the process CPU time (`time.process_time`, which does not
count time the shared machine spends on other work) by the message count. Prints min / median /
max over `--runs` runs for the mix, plain numbers only and timed documents only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

from sensorhub.ingest.interpret import interpret

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


def workload(received: datetime) -> dict[str, list[tuple[str, bytes]]]:
    """(topic, payload) lists: `plain`, `timed` and `mix` (alternating the two)."""
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
    return {"mix": mix, "plain": plain, "timed": timed}


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.interpret_micro", description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run")
    args = parser.parse_args()
    received = datetime.now(UTC)
    for name, messages in workload(received).items():
        repeat = max(1, args.messages // len(messages))
        runs = [cpu_per_message(messages, repeat, received) for _ in range(args.runs)]
        print(
            f"{name:>5}: µs/message min {min(runs):.2f}  median {statistics.median(runs):.2f}  "
            f"max {max(runs):.2f}  ({args.runs} runs × {repeat * len(messages)} messages)"
        )


if __name__ == "__main__":
    main()
