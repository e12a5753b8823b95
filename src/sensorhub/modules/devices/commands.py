"""Writes to one module: desired configuration, sensor reset, hardware enable, preferences.

Everything sent to a module goes through `_publish` (the MQTT plugin's publish, QoS 1): one
call site per command, 503 when the broker is not connected.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Body, HTTPException

from sensorhub.deps import DbDep, LiveDep, MqttDep, WriteAccess
from sensorhub.errors import NotFoundError
from sensorhub.modules.activity import Event, record
from sensorhub.modules.devices import repository
from sensorhub.modules.devices.configuration import (
    config_payload,
    config_topic,
    load_shadow,
    update_desired,
)
from sensorhub.modules.devices.params import ModuleId, invalid
from sensorhub.modules.devices.schemas import (
    ConfigState,
    ConfigUpdate,
    HardwareEnable,
    PreferencesResult,
    SensorReset,
    SensorSetting,
    SensorSettingIn,
)
from sensorhub.plugins.mqtt import MqttPlugin
from sensorhub.schemas import BROKER_DOWN, NOT_FOUND, UNAUTHORIZED, ActionResult, ErrorBody

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/modules", tags=["modules"])

MAX_PREFERENCES_BYTES = 16_384
"""Preferences are a dashboard's small settings, not a document store."""


async def _publish(mqtt: MqttPlugin, topic: str, payload: bytes, *, retain: bool) -> None:
    """Publish at QoS 1; 503 when the broker is not connected."""
    try:
        await mqtt.publish(topic, payload, qos=1, retain=retain)
    except ConnectionError as error:
        logger.warning("not published to %s: %s", topic, error)
        raise HTTPException(503, f"the MQTT broker is not connected; {topic} not sent") from error


def _describe(setting: SensorSettingIn) -> str:
    parts = [f"every {setting.interval} s"] if setting.interval is not None else []
    if setting.model is not None:
        parts.append(f"model {setting.model}")
    return ", ".join(parts) or "unchanged"


@router.get(
    "/{module_id}/config",
    response_model=ConfigState,
    summary="Desired and reported configuration of one module, and whether they agree",
)
async def get_module_config(module_id: ModuleId, db: DbDep) -> ConfigState:
    """Both sides of the device shadow; an unknown module has two empty sides (in sync)."""
    shadow = await load_shadow(db.pool, module_id)
    return ConfigState(
        module_id=module_id,
        desired={k: SensorSetting.model_validate(v) for k, v in shadow.desired.items()},
        reported={k: SensorSetting.model_validate(v) for k, v in shadow.reported.items()},
        in_sync=shadow.in_sync,
        pending=shadow.pending,
    )


@router.post(
    "/{module_id}/config",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={
        **UNAUTHORIZED,
        503: {"model": ErrorBody, "description": "Stored; broker not connected, sent on reconnect"},
    },
    summary="Set the desired sensor configuration and publish it, retained, to the module",
)
async def update_module_config(
    module_id: ModuleId, body: ConfigUpdate, db: DbDep, mqtt: MqttDep, live: LiveDep
) -> ActionResult:
    """Merge into the desired configuration (a field left out keeps its value) and publish it.

    The whole desired configuration `{"sensors": {...}}` goes retained to
    `{id}/sensors/config`. A module not seen yet is accepted (the seed's backend upserts): it
    gets the configuration when it connects. The module's own reports never change it.
    """
    requested = {key: (s.interval, s.model) for key, s in body.sensors.items()}
    desired = await update_desired(db.pool, module_id, requested)
    live.publish_config_update(module_id, {"sensors": desired})
    topic = config_topic(module_id)
    try:
        await _publish(mqtt, topic, config_payload(desired), retain=True)
    except HTTPException as error:
        error.detail = (
            "configuration stored, but the MQTT broker is not connected; "
            "it will be published when the connection is back"
        )
        raise
    changes = ", ".join(f"{key}: {_describe(s)}" for key, s in body.sensors.items()) or "unchanged"
    await record(
        db.pool, Event.CONFIG_PUSHED, f"configuration pushed to {module_id}: {changes}",
        module_id=module_id, user=True, direction="OUT", details={"sensors": desired},
    )  # fmt: skip
    return ActionResult(
        success=True,
        message=f"configuration of {len(requested)} sensor(s) stored and published to {topic}",
    )


@router.post(
    "/{module_id}/reset-sensor",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={**UNAUTHORIZED, **BROKER_DOWN},
    summary="Ask the module to reset one sensor (`{id}/sensors/reset`)",
)
async def reset_sensor(
    module_id: ModuleId, body: SensorReset, db: DbDep, mqtt: MqttDep
) -> ActionResult:
    """Publishes `{"sensor": "co2"}` to `{id}/sensors/reset` (QoS 1, not retained)."""
    payload = json.dumps({"sensor": body.sensor}).encode()
    await _publish(mqtt, f"{module_id}/sensors/reset", payload, retain=False)
    await record(
        db.pool, Event.SENSOR_RESET, f"reset of {body.sensor} sent to {module_id}",
        module_id=module_id, user=True, direction="OUT", details={"sensor": body.sensor},
    )  # fmt: skip
    return ActionResult(success=True, message=f"Reset command sent for sensor {body.sensor}")


@router.post(
    "/{module_id}/hardware/enable",
    response_model=ActionResult,
    dependencies=[WriteAccess],
    responses={**UNAUTHORIZED, **BROKER_DOWN},
    summary="Start or stop one hardware sensor of the module (`{id}/sensors/enable`)",
)
async def enable_hardware(
    module_id: ModuleId, body: HardwareEnable, db: DbDep, mqtt: MqttDep
) -> ActionResult:
    """Publishes `{"hardware": "dht22", "enabled": false}` to `{id}/sensors/enable` (QoS 1).

    The module keeps the state in its flash and reports `"status": "disabled"` for the
    hardware's sensors on `{id}/sensors/status` (the seed's docs/features/sensor-stop.md).
    """
    payload = json.dumps({"hardware": body.hardware, "enabled": body.enabled}).encode()
    await _publish(mqtt, f"{module_id}/sensors/enable", payload, retain=False)
    state = "enabled" if body.enabled else "disabled"
    await record(
        db.pool, Event.HARDWARE_ENABLED, f"{body.hardware} {state} on {module_id}",
        module_id=module_id, user=True, direction="OUT",
        details={"hardware": body.hardware, "enabled": body.enabled},
    )  # fmt: skip
    return ActionResult(success=True, message=f"{body.hardware} {state}")


@router.patch(
    "/{module_id}/preferences",
    response_model=PreferencesResult,
    dependencies=[WriteAccess],
    responses={**NOT_FOUND, **UNAUTHORIZED},
    summary="Merge dashboard preferences into the module's",
)
async def update_preferences(
    module_id: ModuleId,
    db: DbDep,
    preferences: dict[str, Any] = Body(  # noqa: B008
        description='Top-level keys replace the stored ones, e.g. `{"sensor-pref-CO2": "co2"}`.'
    ),
) -> PreferencesResult:
    try:
        encoded = json.dumps(preferences, allow_nan=False)
    except ValueError:
        raise invalid("preferences", "NaN and Infinity are not JSON", where="body") from None
    if len(encoded) > MAX_PREFERENCES_BYTES:
        raise HTTPException(413, f"preferences larger than {MAX_PREFERENCES_BYTES} bytes")
    merged = await repository.update_preferences(db.pool, module_id, encoded)
    if merged is None:
        raise NotFoundError(f"module {module_id!r}")
    # Not recorded in the activity log: the seed's dashboard saves a preference on every load.
    return PreferencesResult(success=True, message="Preferences updated", preferences=merged)
