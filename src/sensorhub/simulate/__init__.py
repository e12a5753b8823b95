"""Simulated ESP32 modules that drive a broker with realistic (or deliberately bad) traffic."""

from sensorhub.simulate.bad import bad_payload, is_bad
from sensorhub.simulate.module import PROFILES, SimulatedModule, module_id
from sensorhub.simulate.runner import (
    SimulationOptions,
    SimulationStats,
    format_progress,
    run_simulation,
    run_simulation_processes,
)

__all__ = [
    "PROFILES",
    "SimulatedModule",
    "SimulationOptions",
    "SimulationStats",
    "bad_payload",
    "format_progress",
    "is_bad",
    "module_id",
    "run_simulation",
    "run_simulation_processes",
]
