"""Plausible ranges from the packaged data file, per hardware model, and an operator's override."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sensorhub.config import Settings
from sensorhub.ingest.sensor_ranges import (
    DEFAULT_RANGES,
    SENSOR_RANGES,
    Bounds,
    SensorRanges,
    SensorRangesError,
    in_range,
    range_for,
)


def test_generic_ranges_cover_the_seed_firmware_sensors() -> None:
    assert dict(SENSOR_RANGES) == {
        "temperature": (-55, 125),
        "humidity": (0, 100),
        "pressure": (300, 1200),
        "co2": (0, 40000),
        "eco2": (400, 60000),
        "tvoc": (0, 60000),
        "voc": (0, 500),
        "pm1": (0, 10000),
        "pm25": (0, 10000),
        "pm4": (0, 10000),
        "pm10": (0, 10000),
        "co": (0, 1000),
    }


@pytest.mark.parametrize(
    ("sensor_type", "hardware_id", "value", "expected"),
    [
        ("pressure", "bmp280", 1150.0, True),  # issue 15: the seed accepts up to 1200 hPa
        ("pressure", "bmp280", 1200.0, True),
        ("pressure", "bmp280", 1200.5, False),
        ("pm25", "sps30", 1500.0, True),  # issue 15: up to 10,000 µg/m³
        ("pm25", "sps30", 10_000.0, True),
        ("pm25", "sps30", 10_001.0, False),
        ("temperature", "ds18b20", -55.0, True),
        ("temperature", "ds18b20", 124.9, True),
        ("temperature", "ds18b20", -127.0, False),  # sentinel: probe disconnected
        ("temperature", "ds18b20", 85.0, False),  # sentinel: power-on value
        ("temperature", "DS18B20", 85.0, False),  # model names compare case-insensitively
        ("temperature", "ds18b20_2", 85.0, False),  # a second probe of the same model
        ("temperature", "default", 85.0, True),  # no sentinel for other hardware
        ("temperature", "dht22", 80.0, True),
        ("temperature", "dht22", 81.0, False),  # DHT22 datasheet: -40…80 °C
        ("temperature", "sht40", 120.0, True),
        ("humidity", "dht22", 100.0, True),  # no dht22 humidity entry: the generic one
        ("Temperature", "default", 200.0, False),  # ranges apply whatever the case
        ("co2", "mhz14a", 10_001.0, False),
        ("co2", "scd30", 35_000.0, True),
        ("radon", "default", 1e9, True),  # unknown types have no range
    ],
)
def test_in_range(sensor_type: str, hardware_id: str, value: float, expected: bool) -> None:
    assert in_range(sensor_type, value, hardware_id) is expected


def test_range_for_ignores_hardware() -> None:
    assert range_for("radon") is None
    assert range_for("HUMIDITY") == (0.0, 100.0)


def test_bounds_of_a_model_replace_the_generic_entry() -> None:
    assert DEFAULT_RANGES.bounds("temperature", "ds18b20") == Bounds(
        -55.0, 125.0, frozenset({-127.0, 85.0})
    )
    generic = DEFAULT_RANGES.bounds("temperature", "unknown-chip")
    assert generic is not None and generic.unit == "°C"


def test_operator_file_replaces_and_adds_entries(tmp_path: Path) -> None:
    override = tmp_path / "ranges.toml"
    override.write_text(
        "[types.co2]\nmin = 0\nmax = 5000\n\n"
        "[types.radon]\nunit = 'Bq/m³'\nmin = 0\nmax = 10000\n\n"
        "[hardware.dht22.temperature]\nmin = -40\nmax = 60\nsentinels = [-40]\n"
    )
    ranges = SensorRanges.load(override)
    assert ranges.bounds("co2", "default") == Bounds(0.0, 5000.0)
    assert ranges.bounds("radon", "default") == Bounds(0.0, 10000.0, unit="Bq/m³")
    assert ranges.bounds("temperature", "dht22") == Bounds(-40.0, 60.0, frozenset({-40.0}))
    assert ranges.bounds("temperature", "ds18b20") == DEFAULT_RANGES.bounds(
        "temperature", "ds18b20"
    )
    assert ranges.bounds("humidity", "default") == DEFAULT_RANGES.bounds("humidity", "default")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[types.co2\n", "not TOML"),
        ("[types.co2]\nmin = 0\n", "max must be a finite number"),
        ("[types.co2]\nmin = 10\nmax = 1\n", "min 10.0 > max 1.0"),
        ("[types.co2]\nmin = 0\nmax = 1\nlow = 3\n", "unknown keys ['low']"),
        ("[types.co2]\nmin = 0\nmax = 'a lot'\n", "max must be a finite number"),
        ("[types.co2]\nmin = 0\nmax = 1\nsentinels = 5\n", "sentinels must be a list"),
        ("[types.co2]\nmin = true\nmax = 1\n", "min must be a finite number"),
        ("[sensors.co2]\nmin = 0\nmax = 1\n", "unknown top-level keys ['sensors']"),
        ("types = 3\n", "types must be a table"),
        ("[types]\nco2 = 3\n", "co2 must be a table"),
    ],
)
def test_malformed_operator_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    override = tmp_path / "ranges.toml"
    override.write_text(text)
    with pytest.raises(SensorRangesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SensorRanges.load(override)


def test_missing_operator_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SensorRangesError, match="SENSOR_RANGES_FILE"):
        SensorRanges.load(tmp_path / "absent.toml")


def test_settings_refuse_an_unusable_ranges_file(tmp_path: Path) -> None:
    override = tmp_path / "ranges.toml"
    override.write_text("[types.co2]\nmin = 10\nmax = 1\n")
    with pytest.raises(ValidationError, match=r"sensor_ranges_file[\s\S]*types\.co2: min"):
        Settings(sensor_ranges_file=override)
    with pytest.raises(ValidationError, match="sensor_ranges_file"):
        Settings(sensor_ranges_file=tmp_path / "absent.toml")
    override.write_text("[types.co2]\nmin = 0\nmax = 5000\n")
    assert Settings(sensor_ranges_file=override).sensor_ranges_file == override
