"""What `interpret` checks messages against: the clock window, the retention horizon, the ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from sensorhub.ingest.sensor_ranges import DEFAULT_RANGES, SensorRanges

if TYPE_CHECKING:
    from sensorhub.config import Settings

MAX_AHEAD: Final = timedelta(minutes=5)
"""How far a device time may run ahead of the receive time (clock skew) and still be kept."""
DEFAULT_RETAIN_FOR: Final = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class InterpretRules:
    """The settings-dependent part of interpretation, built once at start-up.

    Attributes:
        retain_for: Device times older than this (the `RETAIN_FOR` setting) are rejected as
            `too_old`: retention would delete them at once. Younger ones are kept.
        max_ahead: Device times further ahead than this are replaced by the receive time.
        ranges: Plausible values per sensor type and hardware model.
    """

    retain_for: timedelta = DEFAULT_RETAIN_FOR
    max_ahead: timedelta = MAX_AHEAD
    ranges: SensorRanges = field(default=DEFAULT_RANGES)

    @classmethod
    def from_settings(cls, settings: Settings) -> InterpretRules:
        """Rules from `RETAIN_FOR` and `SENSOR_RANGES_FILE`.

        Raises:
            SensorRangesError: the ranges file cannot be used (so start-up fails with its reason).
        """
        return cls(
            retain_for=settings.retain_for,
            ranges=SensorRanges.load(settings.sensor_ranges_file),
        )


DEFAULT_RULES: Final = InterpretRules()
"""Packaged ranges and the default `RETAIN_FOR` (90 days)."""
