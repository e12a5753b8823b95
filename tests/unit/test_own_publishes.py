"""The pipeline drops the echo of sensorhub's own config publish where the broker sends it back."""

from pathlib import Path

from sensorhub.config import Settings
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.delivery import Delivery
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.spool import Spool
from sensorhub.metrics import Metrics
from sensorhub.plugins.mqtt import MqttPlugin


async def _write(batch: Batch) -> None:
    return None


def pipeline(tmp_path: Path) -> IngestPipeline:
    buffer = IngestBuffer(_write, Spool(tmp_path, 1 << 20), Metrics(), max_size=100, max_age=60)
    return IngestPipeline(buffer, Metrics())


def config(payload: bytes) -> Delivery:
    return Delivery("m/sensors/config", payload, 1, False, False, 1)


async def test_the_echo_of_an_own_publish_is_dropped_once(tmp_path: Path) -> None:
    ingest = pipeline(tmp_path)
    ingest.expect_echo("m/sensors/config", b'{"sensors":{}}')
    assert ingest.accept(config(b'{"sensors":{}}')) is None, "our own publish: not ingested"
    assert ingest._buffer.depth == 0
    assert ingest.accept(config(b'{"sensors":{}}')) is not None, "later, from the module: ingested"
    assert ingest._buffer.depth == 1


def test_no_local_needs_no_memory_over_mqtt_5_without_shared_group() -> None:
    mqtt = MqttPlugin(Settings(), "mqtt://127.0.0.1:1883", lambda d: None, mqtt5=False)
    assert mqtt.echoes_own_publishes
    mqtt._version = 5
    assert not mqtt.echoes_own_publishes
    shared = MqttPlugin(
        Settings(mqtt_shared_group="g"), "mqtt://127.0.0.1:1883", lambda d: None, mqtt5=True
    )
    assert shared.echoes_own_publishes, "No Local is not allowed on $share subscriptions"


async def test_expected_echoes_stay_bounded(tmp_path: Path) -> None:
    ingest = pipeline(tmp_path)
    for n in range(10_050):
        ingest.expect_echo(f"m{n}/sensors/config", b"{}")
    assert len(ingest._echoes) <= 10_000
