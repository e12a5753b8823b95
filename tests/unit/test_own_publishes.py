"""sensorhub drops the echo of its own config publish where the broker sends it back."""

import asyncio

from sensorhub.config import Settings
from sensorhub.plugins.mqtt import MqttPlugin


def plugin(**settings: str) -> tuple[MqttPlugin, list[str | bytes]]:
    accepted: list[str | bytes] = []

    def accept(topic: str | bytes, payload: bytes, qos: int) -> asyncio.Future[None] | None:
        accepted.append(topic)
        return None

    return MqttPlugin(Settings(**settings), "mqtt://127.0.0.1:1883", accept, mqtt5=False), accepted


def test_the_echo_of_an_own_publish_is_dropped_once_over_mqtt_311() -> None:
    mqtt, accepted = plugin()
    assert mqtt._echoes_own_publishes
    mqtt._remember_own("m/sensors/config", b'{"sensors":{}}')
    mqtt._accept_unless_own("m/sensors/config", b'{"sensors":{}}', 1)
    assert accepted == [], "our own publish came back: not ingested"
    mqtt._accept_unless_own("m/sensors/config", b'{"sensors":{}}', 1)
    assert accepted == ["m/sensors/config"], "the same payload later, from the module, is ingested"


def test_no_local_needs_no_memory_over_mqtt_5_without_shared_group() -> None:
    mqtt, _ = plugin()
    mqtt._version = 5
    assert not mqtt._echoes_own_publishes
    shared, _ = plugin(mqtt_shared_group="g")
    shared._version = 5
    assert shared._echoes_own_publishes, "No Local is not allowed on $share subscriptions"


def test_remembered_publishes_stay_bounded() -> None:
    mqtt, _ = plugin()
    for n in range(10_050):
        mqtt._remember_own(f"m{n}/sensors/config", b"{}")
    assert len(mqtt._own_publishes) <= 10_000
