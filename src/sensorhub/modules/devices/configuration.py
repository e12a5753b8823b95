"""Module configuration as a device shadow: desired (set through the API), reported (by modules).

The desired configuration lives in `sensor_config_desired`; it is the only thing sensorhub
publishes, retained, to `{id}/sensors/config`, on every change and again on every broker
connection. What a module reports on `{id}/sensors/config` is ingested into `sensor_config` (the
reported side) and never changes what is published (issue 12 item 5): a module answering
`{"co2": {"interval": "60s"}}` after the API set 30 s leaves the desired 30 s in place, and the
next republish still carries 30.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

Sensors = dict[str, dict[str, Any]]
"""Sensor key (`co2`, `dht22:temperature`) → `{"interval": seconds, "model": name}`."""

REPUBLISH_PAGE = 500
"""Modules read per query while republishing: no connection is held while publishing."""


def config_topic(module_id: str) -> str:
    """The topic a module reads its desired configuration from (docs/contract.md §2)."""
    return f"{module_id}/sensors/config"


def config_payload(sensors: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The retained message a module reads: `{"sensors": {"co2": {"interval": 60, ...}}}`."""
    return json.dumps({"sensors": sensors}, separators=(",", ":"), sort_keys=True).encode()


def _setting(interval: int | None, model: str | None) -> dict[str, Any]:
    setting: dict[str, Any] = {}
    if interval is not None:
        setting["interval"] = interval
    if model is not None:
        setting["model"] = model
    return setting


def _sensors(rows: list[asyncpg.Record]) -> Sensors:
    """Rows → settings; the reported side also carries `enabled` when the firmware sends it."""
    sensors: Sensors = {}
    for row in rows:
        setting = sensors[row["sensor_type"]] = _setting(row["interval_s"], row["model"])
        if "enabled" in row and row["enabled"] is not None:
            setting["enabled"] = row["enabled"]
    return sensors


@dataclass(frozen=True)
class Shadow:
    """Both sides of a module's configuration and where they disagree."""

    desired: Sensors
    reported: Sensors

    @property
    def pending(self) -> list[str]:
        """Desired sensor keys the module has not reported running as set (sorted)."""
        return sorted(
            key
            for key, want in self.desired.items()
            if any(self.reported.get(key, {}).get(field) != value for field, value in want.items())
        )

    @property
    def in_sync(self) -> bool:
        return not self.pending

    def effective(self) -> Sensors:
        """What the dashboard shows per sensor: the desired value where set, else the reported."""
        merged: Sensors = {}
        for key in sorted(self.reported.keys() | self.desired.keys()):
            merged[key] = {**self.reported.get(key, {}), **self.desired.get(key, {})}
        return merged


_DESIRED = (
    "SELECT sensor_type, interval_s, model FROM sensor_config_desired WHERE module_id = $1 "
    "ORDER BY sensor_type"
)
_REPORTED = (
    "SELECT sensor_type, interval_s, model, enabled FROM sensor_config WHERE module_id = $1 "
    "ORDER BY sensor_type"
)


async def load_shadow(connection: asyncpg.Connection | asyncpg.Pool, module_id: str) -> Shadow:
    desired = await connection.fetch(_DESIRED, module_id)
    reported = await connection.fetch(_REPORTED, module_id)
    return Shadow(_sensors(desired), _sensors(reported))


_UPSERT_DESIRED = """
INSERT INTO sensor_config_desired (module_id, sensor_type, interval_s, model, updated_at)
SELECT $1, s.sensor_type, s.interval_s, s.model, now()
FROM unnest($2::text[], $3::int[], $4::text[]) AS s(sensor_type, interval_s, model)
ON CONFLICT (module_id, sensor_type) DO UPDATE
SET interval_s = coalesce(EXCLUDED.interval_s, sensor_config_desired.interval_s),
    model = coalesce(EXCLUDED.model, sensor_config_desired.model),
    updated_at = now()
"""


async def update_desired(
    pool: asyncpg.Pool, module_id: str, sensors: Mapping[str, tuple[int | None, str | None]]
) -> Sensors:
    """Merge `sensors` (key → (interval, model)) into the desired configuration.

    A field left out (None) keeps the stored desired value; a module not known yet gets its
    desired configuration all the same (the seed's backend upserts too), and receives it retained
    when it connects. Returns the module's whole desired configuration afterwards.
    """
    keys = list(sensors)
    async with pool.acquire() as connection, connection.transaction():
        if keys:
            await connection.execute(
                _UPSERT_DESIRED,
                module_id,
                keys,
                [sensors[k][0] for k in keys],
                [sensors[k][1] for k in keys],
            )
        rows = await connection.fetch(_DESIRED, module_id)
    return _sensors(rows)


_DESIRED_PAGE = """
SELECT module_id, array_agg(sensor_type ORDER BY sensor_type) AS types,
       array_agg(interval_s ORDER BY sensor_type) AS intervals,
       array_agg(model ORDER BY sensor_type) AS models
FROM sensor_config_desired
WHERE module_id > $1
GROUP BY module_id
ORDER BY module_id
LIMIT $2
"""


async def desired_configurations(
    pool: asyncpg.Pool, *, page: int = REPUBLISH_PAGE
) -> AsyncIterator[tuple[str, str, bytes]]:
    """Every module's desired configuration as `(module_id, topic, payload)`, by module id.

    For the republish on (re)connect: publish each payload retained at QoS 1. Reads `page`
    modules per query and holds no database connection between pages, so the caller may await
    acknowledgements (flow control) for as long as it needs.
    """
    after = ""
    while True:
        rows = await pool.fetch(_DESIRED_PAGE, after, page)
        for row in rows:
            sensors = {
                key: _setting(interval, model)
                for key, interval, model in zip(
                    row["types"], row["intervals"], row["models"], strict=True
                )
            }
            module_id: str = row["module_id"]
            yield module_id, config_topic(module_id), config_payload(sensors)
        if len(rows) < page:
            return
        after = rows[-1]["module_id"]
