"""Simulated ESP32 modules that drive a broker with realistic (or deliberately bad) traffic.

- `options`: what to simulate and what it reports (plain data);
- `module`: one simulated module, the messages it builds (no I/O);
- `bad`: malformed payloads for `--bad-ratio`;
- `gmqtt_adapter`: the only use of gmqtt's private internals (in-flight window, write coalescing);
- `link`: one MQTT connection shared by modules;
- `simulation`: the schedule of one simulation in one event loop (`run_simulation`);
- `processes`: one simulation over several worker processes (`run_simulation_processes`).
"""

from sensorhub.simulate.bad import bad_payload, is_bad
from sensorhub.simulate.module import PROFILES, SimulatedModule, module_id
from sensorhub.simulate.options import SimulationOptions, SimulationStats, format_progress
from sensorhub.simulate.processes import run_simulation_processes
from sensorhub.simulate.simulation import run_simulation

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
