"""Module configuration as stored in `sensor_config` and as published to `{id}/sensors/config`."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


def config_topic(module_id: str) -> str:
    return f"{module_id}/sensors/config"


def config_payload(sensors: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The retained message a module reads: `{"sensors": {"co2": {"interval": 60, ...}}}`."""
    return json.dumps({"sensors": sensors}, separators=(",", ":"), sort_keys=True).encode()


async def load_all_configs(pool: asyncpg.Pool) -> dict[str, dict[str, dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT module_id, sensor_type, interval_s, model FROM sensor_config "
        "ORDER BY module_id, sensor_type"
    )
    configs: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        sensor: dict[str, Any] = {}
        if row["interval_s"] is not None:
            sensor["interval"] = row["interval_s"]
        if row["model"] is not None:
            sensor["model"] = row["model"]
        configs.setdefault(row["module_id"], {})[row["sensor_type"]] = sensor
    return configs


async def republish_all(pool: asyncpg.Pool, publish: Publish) -> int:
    """Publish every module's stored configuration again (retained, QoS 1); returns the count."""
    configs = await load_all_configs(pool)
    for module_id, sensors in configs.items():
        await publish(config_topic(module_id), config_payload(sensors))
    if configs:
        logger.info("republished the configuration of %d modules", len(configs))
    return len(configs)
