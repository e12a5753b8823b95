"""Republishing configurations: one module's failure does not stop the others (issue 12.6)."""

from collections.abc import AsyncIterator

from sensorhub.config import Settings
from sensorhub.plugins.mqtt import MqttPlugin


class Broken(MqttPlugin):
    """Publishes into a list; the broker refuses one topic."""

    published: list[str]

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = True
    ) -> None:
        if topic == "m2/sensors/config":
            raise ConnectionError("refused")
        self.published.append(topic)


async def test_one_failure_does_not_stop_the_others() -> None:
    mqtt = Broken(Settings(), "mqtt://127.0.0.1:1883", lambda delivery: None)
    mqtt.published = []

    async def configurations() -> AsyncIterator[tuple[str, bytes]]:
        for n in range(1, 5):
            yield f"m{n}/sensors/config", b"{}"

    assert await mqtt.publish_all(configurations()) == (3, 1)
    assert mqtt.published == ["m1/sensors/config", "m3/sensors/config", "m4/sensors/config"]
