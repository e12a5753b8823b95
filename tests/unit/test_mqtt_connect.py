"""The MQTT plugin's first connection: broker URL parsing and the retry policy (tenacity)."""

from __future__ import annotations

from typing import Any

from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from sensorhub.config import Settings
from sensorhub.plugins.mqtt import MqttPlugin


def _plugin(url: str, **settings: Any) -> MqttPlugin:
    return MqttPlugin(Settings(_env_file=None, **settings), url, lambda d: None)  # type: ignore[call-arg]


class _FlakyClient:
    """Fails `failures` connection attempts with the given errors, then connects."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.versions: list[int] = []

    async def connect(self, host: str, port: int, **options: Any) -> None:
        self.versions.append(options["version"])
        if self.errors:
            raise self.errors.pop(0)


def test_broker_url_gives_host_port_and_percent_decoded_credentials() -> None:
    plugin = _plugin("mqtts://us%40er:p%3Ass@broker.example")
    assert (plugin.host, plugin.port) == ("broker.example", 8883)
    assert (plugin._username, plugin._password) == ("us@er", "p:ss")


def test_settings_credentials_win_over_the_url() -> None:
    plugin = _plugin("mqtt://url-user:url-pass@127.0.0.1:1884", mqtt_username="env-user")
    assert (plugin.port, plugin._username, plugin._password) == (1884, "env-user", "url-pass")


async def test_connection_failures_are_retried_until_the_broker_answers() -> None:
    plugin = _plugin("mqtt://127.0.0.1:1883")
    client = _FlakyClient(OSError("connection refused"), OSError("connection refused"))
    plugin._client = client
    await plugin._connect_forever()
    assert len(client.versions) == 3


async def test_a_broker_refusing_mqtt5_is_asked_again_over_311_within_one_attempt() -> None:
    plugin = _plugin("mqtt://127.0.0.1:1883")
    client = _FlakyClient(ConnectionRefusedError("Unsupported protocol version"))
    plugin._client = client
    await plugin._connect_forever()
    assert client.versions == [MQTTv50, MQTTv311]
