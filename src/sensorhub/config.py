"""Every option of sensorhub, read once from environment variables and `.env`."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_MQTT_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}


def parse_duration(value: object) -> object:
    """Accept `90d`, `12h`, `30m`, `45s`, `2w` or plain seconds; leave other values to pydantic."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            unit = (match.group(2) or "s").lower()
            return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[unit])
        if not value.strip().upper().startswith("P"):
            raise ValueError("expected a duration such as 90d, 12h, 30m, 45s or ISO 8601 (P7D)")
    return value


def default_client_id(port: int) -> str:
    """Stable across restarts, distinct for instances on one host (they listen on other ports)."""
    return f"sensorhub-{socket.gethostname()}-{port}"[:64]


class Settings(BaseSettings):
    """sensorhub configuration; each field is the upper-case environment variable of its name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded PostgreSQL in DATA_DIR."
    )
    mqtt_url: str | None = Field(
        default=None,
        description="Broker URL (mqtt:// or mqtts://); unset starts an embedded broker.",
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_tls: bool = Field(default=False, description="Use TLS (implied by mqtts://).")
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    mqtt_client_id: str = Field(default="", max_length=64)
    mqtt_topics: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["#"])
    mqtt_shared_group: str | None = None
    mqtt_receive_maximum: int = Field(default=10_000, ge=20, le=65_535)
    mqtt_protocol: Literal["5", "3.1.1"] = "5"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    data_dir: Path = Path("./data")
    embedded_mqtt_port: int = Field(default=1883, ge=0, le=65_535)

    buffer_max_size: int = Field(default=100, ge=1, le=100_000)
    buffer_max_age: float = Field(default=10.0, gt=0, le=3600)
    spool_max_bytes: int = Field(default=1 << 30, ge=1 << 20)

    sensorhub_api_token: SecretStr | None = None
    allow_anonymous_writes: bool = False
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host:port) allowed cross-site, or *; empty = same-origin.",
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    redis_url: str | None = None

    compress_after: timedelta = timedelta(days=7)
    retain_for: timedelta = timedelta(days=90)
    metrics_sample_interval: float = Field(default=300.0, gt=0)

    log_level: LogLevel = "INFO"
    simulate: int = Field(default=0, ge=0, le=10_000)

    # access tokens (helper A's area; the minimal field F's Socket.IO checks need until A merges)
    sensorhub_read_token: SecretStr | None = Field(
        default=None, description="Token for reads (REST GETs, Socket.IO connect); none = open."
    )
    # live events (Socket.IO, helper F)
    live_batch_interval: float = Field(
        default=0.01,
        gt=0,
        le=0.05,
        description="Seconds a batched client's events are coalesced before one mqtt:batch frame.",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in _POSTGRES_SCHEMES:
            raise ValueError("must be a postgresql:// URL")
        return f"postgresql://{rest}"

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in _MQTT_SCHEMES or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        try:
            _ = parts.port
        except ValueError as error:
            raise ValueError(f"invalid port: {error}") from None
        return value.strip()

    @field_validator("mqtt_topics", "cors_origins", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("mqtt_topics")
    @classmethod
    def _check_topics(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one topic filter is needed")
        return value

    @field_validator("compress_after", "retain_for", mode="before")
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        return parse_duration(value)

    @field_validator("sensorhub_api_token", "sensorhub_read_token", "mqtt_password", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _default_client_id(self) -> Settings:
        if not self.mqtt_client_id.strip():
            self.mqtt_client_id = default_client_id(self.port)
        return self

    @model_validator(mode="after")
    def _check_durations(self) -> Settings:
        if self.compress_after <= timedelta(0) or self.retain_for <= timedelta(0):
            raise ValueError("COMPRESS_AFTER and RETAIN_FOR must be positive durations")
        return self

    @property
    def mqtt_uses_tls(self) -> bool:
        if self.mqtt_url is None:
            return False
        return self.mqtt_tls or _MQTT_SCHEMES[urlsplit(self.mqtt_url).scheme]

    @property
    def binds_loopback_only(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
