"""One simulated ESP32 module: its sensors, drifting values and the messages it publishes."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sensorhub.modules.devices.configuration import config_topic

MODULE_TYPE = "esp32-env"


class Outgoing(NamedTuple):
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True)
class SensorProfile:
    sensor_type: str
    hardware_id: str
    low: float
    high: float
    start: float
    step: float
    decimals: int


# Realistic indoor values, all well inside the ranges the backend accepts (docs/contract.md §2).
PROFILES: tuple[SensorProfile, ...] = (
    SensorProfile("temperature", "dht22", 18.0, 28.0, 22.0, 0.1, 1),
    SensorProfile("humidity", "dht22", 40.0, 80.0, 55.0, 0.5, 1),
    SensorProfile("pressure", "bmp280", 990.0, 1035.0, 1013.0, 0.2, 1),
    SensorProfile("co2", "mhz14a", 400.0, 1500.0, 650.0, 15.0, 0),
    SensorProfile("pm1", "sps30", 0.0, 50.0, 5.0, 0.5, 1),
    SensorProfile("pm25", "sps30", 0.0, 50.0, 8.0, 0.5, 1),
    SensorProfile("pm4", "sps30", 0.0, 50.0, 10.0, 0.5, 1),
    SensorProfile("pm10", "sps30", 0.0, 50.0, 12.0, 0.5, 1),
)
PROFILE_BY_TYPE: dict[str, SensorProfile] = {p.sensor_type: p for p in PROFILES}

MIN_INTERVAL = 0.05


def module_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index + 1:03d}"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass
class _Walk:
    """A bounded random walk that reflects off its bounds."""

    low: float
    high: float
    step: float
    value: float

    def advance(self, rng: random.Random) -> float:
        value = self.value + rng.uniform(-self.step, self.step)
        if value < self.low:
            value = 2 * self.low - value
        elif value > self.high:
            value = 2 * self.high - value
        self.value = min(max(value, self.low), self.high)
        return self.value


@dataclass
class SimulatedModule:
    """State of one module; pure logic, no I/O: the runner publishes what it builds."""

    index: int
    prefix: str = "sim"
    default_interval: float = 10.0
    rng: random.Random = field(default_factory=random.Random)
    module_id: str = field(init=False)
    intervals: dict[str, float] = field(init=False)
    _topics: dict[str, str] = field(init=False)
    _walks: dict[str, _Walk] = field(init=False)
    _rssi: _Walk = field(init=False)
    _heap: _Walk = field(init=False)
    _heap_min: float = field(init=False)
    _booted_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.module_id = module_id(self.prefix, self.index)
        self._topics = {
            p.sensor_type: f"{self.module_id}/{p.hardware_id}/{p.sensor_type}" for p in PROFILES
        }
        self.intervals = {p.sensor_type: self.default_interval for p in PROFILES}
        self._walks = {
            p.sensor_type: _Walk(p.low, p.high, p.step, p.start + self.rng.uniform(-5, 5) * p.step)
            for p in PROFILES
        }
        self._rssi = _Walk(-85.0, -35.0, 1.0, self.rng.uniform(-75.0, -45.0))
        self._heap = _Walk(120.0, 200.0, 1.5, 160.0)
        self._heap_min = self._heap.value
        self._booted_at = datetime.now(UTC).timestamp()

    @property
    def sensor_types(self) -> tuple[str, ...]:
        return tuple(p.sensor_type for p in PROFILES)

    @property
    def config_topic(self) -> str:
        """Where this module reads and reports its configuration (the topic sensorhub publishes)."""
        return config_topic(self.module_id)

    def measurement_topic(self, sensor_type: str) -> str:
        return self._topics[sensor_type]

    def start_messages(self) -> list[Outgoing]:
        """What a module sends after boot: system, hardware and sensor configuration, status."""
        mid = self.module_id
        octet = self.index % 250 + 2
        mac_tail = ":".join(f"{b:02X}" for b in self.index.to_bytes(3, "big"))
        system_config = {
            "ip": f"192.168.{self.index // 250 % 256}.{octet}",
            "mac": f"24:6F:28:{mac_tail}",
            "uptimeStart": int(self._booted_at),
            "moduleType": MODULE_TYPE,
            "flash": {"usedKb": 1210, "freeKb": 1890, "systemKb": 996},
            "memory": {"heapTotalKb": 320},
        }
        hardware_config = {
            "chip": {
                "model": "ESP32-D0WD-V3",
                "rev": 3,
                "cpuFreqMhz": 240,
                "flashKb": 4096,
                "cores": 2,
            },
        }
        return [
            Outgoing(f"{mid}/system/config", _dumps(system_config)),
            Outgoing(f"{mid}/hardware/config", _dumps(hardware_config)),
            Outgoing(self.config_topic, self.config_report()),
            Outgoing(f"{mid}/sensors/status", self._sensor_status(wrapped=True)),
        ]

    def config_report(self) -> bytes:
        sensors = {
            p.sensor_type: {
                "interval": _compact(self.intervals[p.sensor_type]),
                "model": p.hardware_id,
            }
            for p in PROFILES
        }
        return _dumps({"sensors": sensors})

    def status_messages(self) -> list[Outgoing]:
        """The periodic heartbeat: system health and the state of every sensor."""
        heap = self._heap.advance(self.rng)
        self._heap_min = min(self._heap_min, heap)
        system = {
            "rssi": round(self._rssi.advance(self.rng)),
            "memory": {"heapFreeKb": round(heap), "heapMinFreeKb": round(self._heap_min)},
        }
        return [
            Outgoing(f"{self.module_id}/system", _dumps(system)),
            Outgoing(f"{self.module_id}/sensors/status", self._sensor_status(wrapped=False)),
        ]

    def _sensor_status(self, *, wrapped: bool) -> bytes:
        sensors = {
            p.sensor_type: {
                "status": "ok",
                "value": round(self._walks[p.sensor_type].value, p.decimals),
            }
            for p in PROFILES
        }
        if wrapped:
            return _dumps({"moduleType": MODULE_TYPE, "sensors": sensors})
        return _dumps(sensors)

    def measurement(self, sensor_type: str) -> Outgoing:
        """The next reading of one sensor, as plain text or as JSON with a timestamp."""
        profile = PROFILE_BY_TYPE[sensor_type]
        value = round(self._walks[sensor_type].advance(self.rng), profile.decimals)
        if self.rng.random() < 0.5:
            payload = f"{value:.{profile.decimals}f}".encode()
        else:
            payload = f'{{"value":{value},"time":"{utc_now_iso()}"}}'.encode()
        return Outgoing(self._topics[sensor_type], payload)

    def apply_config(self, payload: bytes) -> dict[str, float]:
        """Apply a `sensors/config` message; return the sensors whose interval changed.

        Anything unparseable is ignored, as firmware would: a bad config must not stop a module.
        """
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            return {}
        sensors = document.get("sensors") if isinstance(document, dict) else None
        if not isinstance(sensors, dict):
            return {}
        changed: dict[str, float] = {}
        for sensor_type, settings in sensors.items():
            if sensor_type not in self.intervals or not isinstance(settings, dict):
                continue
            interval = settings.get("interval")
            if isinstance(interval, bool) or not isinstance(interval, int | float):
                continue
            if not math.isfinite(interval) or interval <= 0:
                continue
            interval = max(float(interval), MIN_INTERVAL)
            if interval != self.intervals[sensor_type]:
                self.intervals[sensor_type] = interval
                changed[sensor_type] = interval
        return changed


def _compact(number: float) -> float | int:
    return int(number) if number.is_integer() else number
