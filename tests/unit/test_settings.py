from datetime import timedelta

import pytest
from pydantic import ValidationError

from sensorhub.cli import check_bind_rule
from sensorhub.config import Settings


def test_defaults_are_safe_and_documented_values() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.database_url is None
    assert settings.mqtt_url is None
    assert settings.buffer_max_size == 2_000
    assert settings.buffer_max_age == 1.0
    assert settings.compress_after == timedelta(days=7)
    assert settings.retain_for == timedelta(days=90)
    assert settings.mqtt_client_id == Settings().mqtt_client_id, "client id must be stable"
    assert Settings(port=8001).mqtt_client_id != settings.mqtt_client_id, "one per instance"


def test_reads_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/sensors")
    monkeypatch.setenv("MQTT_URL", "mqtts://broker.local:8883")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test, http://b.test")
    monkeypatch.setenv("RETAIN_FOR", "30d")
    monkeypatch.setenv("COMPRESS_AFTER", "12h")
    monkeypatch.setenv("SENSORHUB_API_TOKEN", "s3cret")
    settings = Settings()
    assert settings.database_url == "postgresql://u:p@db:5432/sensors"
    assert settings.mqtt_uses_tls
    assert settings.cors_origins == ["http://a.test", "http://b.test"]
    assert settings.retain_for == timedelta(days=30)
    assert settings.compress_after == timedelta(hours=12)
    assert settings.sensorhub_api_token is not None
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://h/db", "postgres://h/db", "postgresql://h/db"]
)
def test_database_url_schemes_are_normalised(url: str) -> None:
    assert Settings(database_url=url).database_url == "postgresql://h/db"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_url", "mysql://h/db", "postgresql://"),
        ("mqtt_url", "http://broker", "mqtt://"),
        ("mqtt_url", "mqtt://broker:99999", "port"),
        ("port", "0", "greater than or equal to 1"),
        ("buffer_max_size", "0", "greater than or equal to 1"),
        ("buffer_max_age", "-1", "greater than 0"),
        ("log_level", "LOUD", "DEBUG"),
        ("retain_for", "forever", "duration"),
        ("mqtt_topics", "", "at least one topic"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(**{field: value})
    assert field in str(error.value)
    assert message in str(error.value)


def test_empty_token_means_no_token() -> None:
    assert Settings(sensorhub_api_token="").sensorhub_api_token is None


def test_bind_rule() -> None:
    assert check_bind_rule(Settings(host="127.0.0.1")) is None
    refusal = check_bind_rule(Settings(host="0.0.0.0"))
    assert refusal is not None and "SENSORHUB_API_TOKEN" in refusal
    assert check_bind_rule(Settings(host="0.0.0.0", sensorhub_api_token="t")) is None
    assert check_bind_rule(Settings(host="0.0.0.0", allow_anonymous_writes=True)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1.5d", timedelta(hours=36)),
        ("3600", timedelta(hours=1)),
        ("P7D", timedelta(days=7)),
        ("PT12H", timedelta(hours=12)),
    ],
)
def test_durations_in_the_documented_forms(text: str, expected: timedelta) -> None:
    assert Settings(retain_for=text).retain_for == expected


@pytest.mark.parametrize("topic_filter", ["#", "+/temperature", "gh-1/#", "a/+/b", "a/b/c"])
def test_topic_filters_are_accepted(topic_filter: str) -> None:
    assert Settings(mqtt_topics=topic_filter).mqtt_topics == [topic_filter]


@pytest.mark.parametrize(
    ("topic_filter", "message"),
    [
        ("a/#/b", "'#' must be a whole level, and the last"),
        ("a#", "'#' must be a whole level"),
        ("a/b+", "'+' must be a whole level"),
        ("$share/g/#", "MQTT_SHARED_GROUP"),
        ("a\0b", "not a topic filter"),
    ],
)
def test_malformed_topic_filters_are_refused(topic_filter: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(mqtt_topics=topic_filter)
    assert "mqtt_topics" in str(error.value) and message in str(error.value)


def test_broker_url_credentials_and_port_come_from_one_parser() -> None:
    from sensorhub.broker_url import BrokerAddress, redact_broker_url

    address = BrokerAddress.parse("mqtts://us%40er:p%3Ass@broker.local")
    assert (address.host, address.port, address.tls) == ("broker.local", 8883, True)
    assert (address.username, address.password) == ("us@er", "p:ss")
    assert "p%3Ass" not in redact_broker_url("mqtts://us%40er:p%3Ass@broker.local")
    assert Settings(mqtt_url="mqtt://u:p@h:1884").mqtt_uses_tls is False


def test_every_setting_is_described() -> None:
    """`Settings` is the reference of every option: each field says what it is and its unit."""
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []
