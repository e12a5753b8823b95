"""The device shadow's comparison and the activity log's never-raising record (no I/O)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.modules.activity import Event, record
from sensorhub.modules.devices.configuration import Shadow, config_payload
from sensorhub.modules.devices.history_raw import Cursor
from sensorhub.modules.devices.history_repository import series_key

settings = st.fixed_dictionaries(
    {}, optional={"interval": st.integers(1, 86_400), "model": st.text(max_size=5)}
)
sensors = st.dictionaries(st.sampled_from(["co2", "dht22:temperature", "pm25"]), settings)


def test_a_report_that_differs_is_pending_and_a_missing_field_is_not_compared() -> None:
    shadow = Shadow(desired={"co2": {"interval": 30}}, reported={"co2": {"model": "mhz19"}})
    assert shadow.pending == ["co2"] and not shadow.in_sync
    assert shadow.effective() == {"co2": {"interval": 30, "model": "mhz19"}}
    agreed = Shadow(desired={"co2": {"interval": 30}}, reported={"co2": {"interval": 30, "x": 1}})
    assert agreed.in_sync and agreed.pending == []


@given(desired=sensors, reported=sensors)
def test_effective_prefers_desired_and_in_sync_means_reported_covers_desired(
    desired: dict[str, dict[str, Any]], reported: dict[str, dict[str, Any]]
) -> None:
    shadow = Shadow(desired, reported)
    effective = shadow.effective()
    assert set(effective) == set(desired) | set(reported)
    for key, want in desired.items():
        assert {**effective[key], **want} == effective[key]
    assert shadow.in_sync == all(
        all(reported.get(key, {}).get(f) == v for f, v in want.items())
        for key, want in desired.items()
    )
    assert Shadow(desired, {**reported, **desired}).in_sync


def test_payload_is_canonical_json() -> None:
    assert (
        config_payload({"b": {"interval": 5}, "a": {}})
        == b'{"sensors":{"a":{},"b":{"interval":5}}}'
    )


def test_series_keys_keep_hardware_ids_apart() -> None:
    assert series_key("dht22", "temperature") == "dht22:temperature"
    assert series_key("default", "temperature") == "temperature"


@given(st.text(max_size=40))
def test_only_cursors_we_made_decode(token: str) -> None:
    try:
        cursor = Cursor.decode(token)
    except ValueError:
        return
    assert Cursor.decode(cursor.encode()) == cursor


class _Down:
    async def execute(self, *args: object) -> None:
        raise ConnectionRefusedError("database down")


async def test_recording_never_raises_when_the_database_is_down() -> None:
    assert await record(_Down(), Event.CONFIG_PUSHED, "x") is False  # type: ignore[arg-type]
