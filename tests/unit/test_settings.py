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
    assert settings.buffer_max_size == 100
    assert settings.buffer_max_age == 10.0
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
