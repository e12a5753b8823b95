"""The activity log: sensorhub's own events worth an operator's eye, beside the modules' logs.

Call `record(...)` where something happens; `/api/logs` serves these entries together with
`device_logs` in the shape the seed's dashboard reads. Recording never raises: an event that
cannot be written (database down) is logged and dropped, so it never breaks the caller.

Hook points wired here: configuration pushed, sensor reset and hardware enable sent, zone changes,
module and logs deleted (all from the API). Preference changes are not recorded: the seed's
dashboard saves one on every page load. Hook points for the integrator (events
that live in other helpers' code), with the event to record:

- ingest/pipeline (B): `Event.MODULE_CONNECTED` when a module is first seen or seen again after
  being silent; `Event.MODULE_SILENT` when a module passes its online window without a message.
- ingest/interpret (C) or pipeline (B): `Event.MESSAGE_REJECTED`, rate-limited per module and
  reason, details `{"reason": ..., "topic": ..., "count": n}`.
- plugins/db or the buffer (B): `Event.DATABASE_OUTAGE` is recorded on recovery (the database is
  down when it starts), with `Event.DATABASE_RECOVERED` details `{"downSince": ..., "spooled": n}`.
- plugins/mqtt (B): `Event.BROKER_DISCONNECTED` / `Event.BROKER_CONNECTED`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg

from sensorhub.errors import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)


class Category(StrEnum):
    """The seed dashboard's log categories (`/api/logs?category=`)."""

    HARDWARE = "HARDWARE"
    MQTT = "MQTT"
    DB = "DB"
    API = "API"
    WEBSOCKET = "WEBSOCKET"
    SYSTEM = "SYSTEM"


class Event(StrEnum):
    CONFIG_PUSHED = "config.pushed"
    SENSOR_RESET = "sensor.reset"
    HARDWARE_ENABLED = "hardware.enabled"
    ZONE_CREATED = "zone.created"
    ZONE_UPDATED = "zone.updated"
    ZONE_DELETED = "zone.deleted"
    ZONE_MODULE_ASSIGNED = "zone.module_assigned"
    ZONE_MODULE_REMOVED = "zone.module_removed"
    MODULE_DELETED = "module.deleted"
    LOGS_DELETED = "logs.deleted"
    MODULE_CONNECTED = "module.connected"
    MODULE_SILENT = "module.silent"
    MESSAGE_REJECTED = "message.rejected"
    DATABASE_OUTAGE = "database.outage"
    DATABASE_RECOVERED = "database.recovered"
    BROKER_CONNECTED = "broker.connected"
    BROKER_DISCONNECTED = "broker.disconnected"


CATEGORY: dict[Event, Category] = {
    Event.CONFIG_PUSHED: Category.MQTT,
    Event.SENSOR_RESET: Category.MQTT,
    Event.HARDWARE_ENABLED: Category.MQTT,
    Event.ZONE_CREATED: Category.API,
    Event.ZONE_UPDATED: Category.API,
    Event.ZONE_DELETED: Category.API,
    Event.ZONE_MODULE_ASSIGNED: Category.API,
    Event.ZONE_MODULE_REMOVED: Category.API,
    Event.MODULE_DELETED: Category.API,
    Event.LOGS_DELETED: Category.API,
    Event.MODULE_CONNECTED: Category.HARDWARE,
    Event.MODULE_SILENT: Category.HARDWARE,
    Event.MESSAGE_REJECTED: Category.MQTT,
    Event.DATABASE_OUTAGE: Category.DB,
    Event.DATABASE_RECOVERED: Category.DB,
    Event.BROKER_CONNECTED: Category.MQTT,
    Event.BROKER_DISCONNECTED: Category.MQTT,
}

INSERT = """
INSERT INTO activity_log
    (time, level, category, event, source, direction, module_id, message, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
"""


async def record(
    db: asyncpg.Pool | asyncpg.Connection,
    event: Event,
    message: str,
    *,
    level: str = "info",
    module_id: str | None = None,
    details: dict[str, Any] | None = None,
    user: bool = False,
    direction: str | None = None,
    time: datetime | None = None,
) -> bool:
    """Write one entry; returns False (and logs) when the database cannot take it.

    `level` is one of trace, debug, success, info, warn, error, fatal (the seed's levels);
    `user` marks an operator's action (source USER), else SYSTEM; `direction` is IN or OUT for
    MQTT traffic. `details` must be JSON-serializable; it is shown as is by the dashboard.
    """
    try:
        await db.execute(
            INSERT,
            time or datetime.now(UTC),
            level,
            CATEGORY[event].value,
            event.value,
            "USER" if user else "SYSTEM",
            direction,
            module_id,
            message,
            None if details is None else json.dumps(details, default=str),
        )
    except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as error:
        logger.warning("activity %s not recorded (%s): %s", event.value, error, message)
        return False
    return True
