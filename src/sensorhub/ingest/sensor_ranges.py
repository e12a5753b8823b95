"""The one table of known sensor types and their plausible value ranges (docs/contract.md §2)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SENSOR_RANGES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "temperature": (-40.0, 85.0),  # °C
        "humidity": (0.0, 100.0),  # %
        "pressure": (300.0, 1100.0),  # hPa
        "co2": (0.0, 10_000.0),  # ppm
        "eco2": (400.0, 60_000.0),  # ppm
        "tvoc": (0.0, 60_000.0),  # ppb
        "voc": (0.0, 500.0),  # index
        "pm1": (0.0, 1000.0),  # µg/m³
        "pm25": (0.0, 1000.0),
        "pm4": (0.0, 1000.0),
        "pm10": (0.0, 1000.0),
        "co": (0.0, 1000.0),  # ppm
    }
)
"""Inclusive (low, high) bounds per known sensor type; unknown types have no range."""


def range_for(sensor_type: str) -> tuple[float, float] | None:
    """The plausible range of a sensor type, looked up case-insensitively, or None if unknown."""
    bounds = SENSOR_RANGES.get(sensor_type)
    if bounds is None:
        bounds = SENSOR_RANGES.get(sensor_type.lower())
    return bounds


def in_range(sensor_type: str, value: float) -> bool:
    """Whether a finite value is plausible for the sensor type (always True for unknown types)."""
    bounds = range_for(sensor_type)
    return bounds is None or bounds[0] <= value <= bounds[1]
