"""What a simulation runs (`SimulationOptions`) and what it reports (`SimulationStats`).

Plain data and arithmetic, no I/O: the options are validated here, split over worker processes
here (`split_options`), and the workers' statistics are merged back here (`merge_stats`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    """What a published message counts as in `SimulationStats`."""

    MEASUREMENT = 0
    BAD = 1
    CONTROL = 2  # configuration and status messages


@dataclass
class SimulationOptions:
    """What to simulate.

    `rate` is the total of measurement messages per second over all modules; 0 or None publishes
    each sensor at its own interval (`sensor_interval` in seconds, or what the retained
    `sensors/config` sets), as real modules do; `status_interval` is in seconds too, `duration`
    in seconds (None: until stopped). `connections` None gives each module its own connection up
    to 32 modules and shares 4 connections beyond (fewer connections publish faster).
    `max_in_flight` bounds unacknowledged QoS 1 publishes per connection. `first_module`
    numbers the modules from there (used to split one simulation across processes).

    Raises:
        ValueError: an option out of its range (the message names it).
    """

    broker_url: str = "mqtt://127.0.0.1:1883"
    modules: int = 5
    rate: float | None = None
    duration: float | None = None
    qos: int = 1
    bad_ratio: float = 0.0
    module_prefix: str = "sim"
    seed: int | None = None
    sensor_interval: float = 10.0
    status_interval: float = 30.0
    connections: int | None = None
    max_in_flight: int = 1000
    first_module: int = 0

    def __post_init__(self) -> None:
        if self.qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if not 0.0 <= self.bad_ratio <= 1.0:
            raise ValueError("bad_ratio must be within 0..1")
        if self.modules < 0 or (self.rate is not None and self.rate < 0):
            raise ValueError("modules and rate must not be negative")
        if self.sensor_interval <= 0 or self.status_interval <= 0:
            raise ValueError("intervals must be positive")
        if not 1 <= self.max_in_flight < 65535:
            raise ValueError("max_in_flight must be within 1..65534")


@dataclass
class SimulationStats:
    """Counts of messages the broker acknowledged (QoS 1) or that were written (QoS 0).

    `sent` and `rate` (messages per second) count measurement messages, bad ones included;
    `bad_sent` the bad ones; `control_sent` the configuration and status messages; `errors` what
    was not delivered; `elapsed` is in seconds.
    """

    sent: int = 0
    bad_sent: int = 0
    control_sent: int = 0
    errors: int = 0
    elapsed: float = 0.0
    rate: float = 0.0


def format_progress(stats: SimulationStats) -> str:
    """One status line, e.g. `sent=120 rate=12.0/s bad=0 errors=0 elapsed=10s`."""
    return (
        f"sent={stats.sent} rate={stats.rate:.1f}/s bad={stats.bad_sent} "
        f"errors={stats.errors} elapsed={stats.elapsed:.0f}s"
    )


def split_options(options: SimulationOptions, parts: int) -> list[SimulationOptions]:
    """Divide the modules, their rate and connections into `parts` disjoint simulations."""
    parts = max(1, min(parts, options.modules))
    result = []
    first = options.first_module
    for part in range(parts):
        modules = options.modules // parts + (part < options.modules % parts)
        share = modules / options.modules
        result.append(
            dataclasses.replace(
                options,
                modules=modules,
                first_module=first,
                rate=options.rate * share if options.rate else options.rate,
                connections=(
                    max(1, round(options.connections * share)) if options.connections else None
                ),
                seed=None if options.seed is None else options.seed + part * 7919,
            )
        )
        first += modules
    return result


def merge_stats(parts: list[SimulationStats]) -> SimulationStats:
    """The statistics of disjoint simulations run side by side (elapsed: the longest)."""
    elapsed = max((p.elapsed for p in parts), default=0.0)
    sent = sum(p.sent for p in parts)
    return SimulationStats(
        sent=sent,
        bad_sent=sum(p.bad_sent for p in parts),
        control_sent=sum(p.control_sent for p in parts),
        errors=sum(p.errors for p in parts),
        elapsed=elapsed,
        rate=sent / elapsed if elapsed else 0.0,
    )
