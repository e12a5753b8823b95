"""Plausible value ranges per sensor type and hardware model, read from a TOML data file.

The packaged defaults are `sensor_ranges.toml` beside this module (its header explains the
format); an operator file named by the `SENSOR_RANGES_FILE` setting replaces entries one by one.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Final

_SUFFIX_SEPARATORS: Final = "-_:."
_CACHE_LIMIT: Final = 16384


class SensorRangesError(ValueError):
    """A range file that cannot be used: unreadable, not TOML, or an entry of the wrong shape."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive plausible bounds of one sensor, and the values that mean "no reading"."""

    low: float
    high: float
    sentinels: frozenset[float] = frozenset()
    unit: str = ""


Entries = dict[str, Bounds]
"""Sensor type (lower case) → bounds."""


class SensorRanges:
    """Looks up the bounds of a (sensor type, hardware id) pair; lookups are cached."""

    def __init__(self, types: Mapping[str, Bounds], hardware: Mapping[str, Mapping[str, Bounds]]):
        self.types: Mapping[str, Bounds] = MappingProxyType(dict(types))
        self.hardware: Mapping[str, Mapping[str, Bounds]] = MappingProxyType(
            {model: MappingProxyType(dict(entries)) for model, entries in hardware.items()}
        )
        self._cache: dict[tuple[str, str], Bounds | None] = {}

    @classmethod
    def load(cls, override: Path | None = None) -> SensorRanges:
        """The packaged defaults, with the entries of `override` (same format) replacing them.

        Raises:
            SensorRangesError: the override file is missing, not TOML, or malformed.
        """
        text = resources.files(__package__).joinpath("sensor_ranges.toml").read_text("utf-8")
        types, hardware = _parse(text, "sensor_ranges.toml (packaged)")
        if override is not None:
            try:
                extra = override.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise SensorRangesError(f"SENSOR_RANGES_FILE {override}: {error}") from None
            more_types, more_hardware = _parse(extra, str(override))
            types.update(more_types)
            for model, entries in more_hardware.items():
                hardware.setdefault(model, {}).update(entries)
        return cls(types, hardware)

    def bounds(self, sensor_type: str, hardware_id: str) -> Bounds | None:
        """The bounds for a reading, or None when the sensor type is not checked.

        A hardware model's own entry wins over the sensor type's; names compare case-insensitively
        and a hardware id also matches its model by the part before `-`, `_`, `:` or `.`.
        """
        key = (sensor_type, hardware_id)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(sensor_type.lower(), hardware_id.lower())
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _lookup(self, sensor_type: str, hardware_id: str) -> Bounds | None:
        for model in _model_names(hardware_id):
            entries = self.hardware.get(model)
            if entries is not None and sensor_type in entries:
                return entries[sensor_type]
        return self.types.get(sensor_type)


def _model_names(hardware_id: str) -> list[str]:
    names = [hardware_id]
    cut = min((i for i, c in enumerate(hardware_id) if c in _SUFFIX_SEPARATORS), default=0)
    if cut > 0:
        names.append(hardware_id[:cut])
    return names


def _parse(text: str, origin: str) -> tuple[Entries, dict[str, Entries]]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SensorRangesError(f"{origin}: not TOML: {error}") from None
    unknown = set(document) - {"types", "hardware"}
    if unknown:
        raise SensorRangesError(f"{origin}: unknown top-level keys {sorted(unknown)}")
    types = _entries(document.get("types", {}), f"{origin}: types")
    hardware_tables = document.get("hardware", {})
    if not isinstance(hardware_tables, dict):
        raise SensorRangesError(f"{origin}: 'hardware' must be a table")
    hardware = {
        str(model).lower(): _entries(entries, f"{origin}: hardware.{model}")
        for model, entries in hardware_tables.items()
    }
    return types, hardware


def _entries(table: object, where: str) -> Entries:
    if not isinstance(table, dict):
        raise SensorRangesError(f"{where} must be a table")
    return {str(name).lower(): _bounds(entry, f"{where}.{name}") for name, entry in table.items()}


def _bounds(entry: object, where: str) -> Bounds:
    if not isinstance(entry, dict):
        raise SensorRangesError(f"{where} must be a table with min and max")
    unknown = set(entry) - {"min", "max", "sentinels", "unit"}
    if unknown:
        raise SensorRangesError(f"{where}: unknown keys {sorted(unknown)}")
    low, high = _number(entry.get("min"), f"{where}.min"), _number(entry.get("max"), f"{where}.max")
    if low > high:
        raise SensorRangesError(f"{where}: min {low} > max {high}")
    sentinels = entry.get("sentinels", [])
    if not isinstance(sentinels, list):
        raise SensorRangesError(f"{where}.sentinels must be a list of numbers")
    unit = entry.get("unit", "")
    if not isinstance(unit, str):
        raise SensorRangesError(f"{where}.unit must be text")
    found = frozenset(_number(s, f"{where}.sentinels") for s in sentinels)
    return Bounds(low, high, found, unit)


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SensorRangesError(f"{where} must be a finite number, got {value!r}")
    return float(value)


DEFAULT_RANGES: Final = SensorRanges.load()
"""The packaged ranges, without an operator file."""

SENSOR_RANGES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {name: (b.low, b.high) for name, b in DEFAULT_RANGES.types.items()}
)
"""Packaged (low, high) bounds per sensor type, whatever the hardware."""


def range_for(sensor_type: str) -> tuple[float, float] | None:
    """The packaged range of a sensor type (any hardware), case-insensitively, or None."""
    bounds = DEFAULT_RANGES.bounds(sensor_type, "")
    return None if bounds is None else (bounds.low, bounds.high)


def in_range(sensor_type: str, value: float, hardware_id: str = "") -> bool:
    """Whether a finite value is plausible under the packaged ranges (True for unknown types)."""
    bounds = DEFAULT_RANGES.bounds(sensor_type, hardware_id)
    return bounds is None or (bounds.low <= value <= bounds.high and value not in bounds.sentinels)
