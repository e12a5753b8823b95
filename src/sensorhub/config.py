"""Every option of sensorhub, read once from environment variables and `.env`."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sensorhub.broker_url import BrokerAddress

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_SHORT_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_ISO_8601_FORM = {"s": "PT{}S", "m": "PT{}M", "h": "PT{}H", "d": "P{}D", "w": "P{}W"}
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}


def parse_duration(value: object) -> object:
    """Turn the short forms `90d`, `12h`, `30m`, `45s`, `2w` and plain seconds (`3600`) into
    ISO 8601 (`P90D` …); Pydantic's `timedelta` parses that and every other form it knows."""
    if isinstance(value, str):
        match = _SHORT_DURATION.match(value)
        if match:
            unit = (match.group(2) or "s").lower()
            return _ISO_8601_FORM[unit].format(match.group(1))
        if not value.strip().upper().startswith("P"):
            raise ValueError("expected a duration such as 90d, 12h, 30m, 45s or ISO 8601 (P7D)")
    return value


def check_topic_filter(topic_filter: str) -> str:
    """An MQTT topic filter as MQTT 5 §4.7 defines it, or ValueError saying what is wrong.

    Non-empty, at most 65,535 bytes of UTF-8 without NUL; `#` only alone as the last level; `+`
    only alone in its level. Shared subscriptions are set by MQTT_SHARED_GROUP, not here.
    """
    if not topic_filter or len(topic_filter.encode()) > 65_535 or "\0" in topic_filter:
        raise ValueError(f"{topic_filter!r} is not a topic filter (empty, too long or NUL)")
    if topic_filter.startswith("$share/"):
        raise ValueError("set MQTT_SHARED_GROUP instead of a $share/ filter")
    levels = topic_filter.split("/")
    for number, level in enumerate(levels):
        if "#" in level and (level != "#" or number != len(levels) - 1):
            raise ValueError(f"{topic_filter!r}: '#' must be a whole level, and the last")
        if "+" in level and level != "+":
            raise ValueError(f"{topic_filter!r}: '+' must be a whole level")
    return topic_filter


def default_client_id(port: int) -> str:
    """Stable across restarts, distinct for instances on one host (they listen on other ports)."""
    return f"sensorhub-{socket.gethostname()}-{port}"[:64]


class Settings(BaseSettings):
    """sensorhub configuration; each field is the upper-case environment variable of its name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db; postgres:// and "
        "postgresql+asyncpg:// accepted); unset starts an embedded PostgreSQL in DATA_DIR.",
    )
    mqtt_url: str | None = Field(
        default=None,
        description="Broker URL (mqtt://host:1883 or mqtts://host:8883, credentials allowed); "
        "unset starts an embedded broker.",
    )
    mqtt_username: str | None = Field(default=None, description="Broker user name.")
    mqtt_password: SecretStr | None = Field(default=None, description="Broker password.")
    mqtt_tls: bool = Field(default=False, description="Use TLS (implied by mqtts://).")
    mqtt_ca_file: Path | None = Field(
        default=None, description="PEM file of the CA certificates that verify the broker (TLS)."
    )
    mqtt_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for TLS client authentication."
    )
    mqtt_key_file: Path | None = Field(
        default=None, description="PEM private key of MQTT_CERT_FILE."
    )
    mqtt_client_id: str = Field(
        default="",
        max_length=64,
        description="MQTT client id (at most 64 characters); unset: sensorhub-<hostname>-<PORT>, "
        "stable so the broker keeps the session across restarts, distinct per instance.",
    )
    mqtt_topics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["#"],
        description="Comma-separated MQTT topic filters to subscribe to (`+` and `#` wildcards; "
        "`#` never matches `$SYS`).",
    )
    mqtt_shared_group: str | None = Field(
        default=None,
        description="Share group: subscribe through $share/<group>/… so instances split ingest.",
    )
    mqtt_receive_maximum: int = Field(
        default=20_000,
        ge=20,
        le=65_535,
        description="QoS 1 messages (a count) the broker may have unacknowledged at sensorhub; "
        "at that many sensorhub stops reading the socket. Batches hold at most half of it.",
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field(
        default="5", description="MQTT protocol version: 5, or 3.1.1 for brokers without MQTT 5."
    )

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(
        default=8000, ge=1, le=65_535, description="TCP port of the REST API, Socket.IO, /metrics."
    )
    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory of the durable spool and of the embedded PostgreSQL's data.",
    )
    embedded_mqtt_port: int = Field(
        default=1883,
        ge=0,
        le=65_535,
        description="TCP port of the embedded broker (0 or a taken port: a free one).",
    )

    buffer_max_size: int = Field(
        default=2_000,
        ge=1,
        le=100_000,
        description="Flush a batch when this many messages (a count) are waiting (at most half "
        "of MQTT_RECEIVE_MAXIMUM: reading goes on while a batch is written).",
    )
    buffer_max_age: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Flush a batch when its oldest message has waited this many seconds.",
    )
    spool_max_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        description="Size limit of the durable spool in bytes; beyond it sensorhub stops "
        "acknowledging (backpressure).",
    )

    sensorhub_api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token required for writes (POST, PATCH, DELETE) when set; it "
        "grants reads too.",
    )
    allow_anonymous_writes: bool = Field(
        default=False,
        description="Allow binding a non-loopback HOST without SENSORHUB_API_TOKEN.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other origins allowed to call the API and Socket.IO from a browser, comma "
        "separated (`https://dash.example`); empty = same origin only; `*` = any (unsafe).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest accepted request body, in bytes."
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0): instances share Socket.IO clients.",
    )

    compress_after: timedelta = Field(
        default=timedelta(days=7),
        description="TimescaleDB: compress chunks older than this duration (7d, 12h, P7D, "
        "seconds).",
    )
    retain_for: timedelta = Field(
        default=timedelta(days=90),
        description="Delete readings older than this duration (90d, 12h, P90D, seconds).",
    )
    metrics_sample_interval: float = Field(
        default=300.0,
        gt=0,
        description="Seconds between samples of database size and ingest rate.",
    )

    log_level: LogLevel = Field(default="INFO", description="Least severe level logged.")
    simulate: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Simulated modules (a count) to run beside the server, as serve --simulate.",
    )

    # --- operations: ingest deadlines, retention, read access ---
    ingest_write_timeout: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds one ingest database write may take before it is rolled back and "
        "its batch spooled (a stall is logged at WARNING and counted).",
    )
    system_metrics_retain_for: timedelta = Field(
        default=timedelta(days=30),
        description="How long host metric samples (`system_metrics`) are kept (duration: 30d).",
    )
    device_logs_retain_for: timedelta | None = Field(
        default=None,
        description="How long module log lines (`device_logs`) are kept; unset = RETAIN_FOR.",
    )
    activity_log_retain_for: timedelta = Field(
        default=timedelta(days=365),
        description="How long activity log entries (`activity_log`) are kept (duration: 365d).",
    )
    sensorhub_read_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for reads (GET /api, /metrics, Socket.IO); "
        "SENSORHUB_API_TOKEN also reads.",
    )

    # --- ingest interpretation ---
    sensor_ranges_file: Path | None = Field(
        default=None,
        description="TOML file of plausible sensor ranges (the format of the packaged "
        "sensorhub/ingest/sensor_ranges.toml); its entries replace the packaged ones, per sensor "
        "type and hardware model. Unset: the packaged ranges only.",
    )

    @field_validator("sensor_ranges_file")
    @classmethod
    def _check_sensor_ranges_file(cls, value: Path | None) -> Path | None:
        if value is not None:  # read it now, so a bad file stops start-up naming the entry
            from sensorhub.ingest.sensor_ranges import SensorRanges

            SensorRanges.load(value)
        return value

    # --- live events (Socket.IO) ---
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
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError("must be a postgresql:// URL") from None
        if url.drivername not in _POSTGRES_SCHEMES:
            raise ValueError("must be a postgresql:// URL")
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if "://" not in value:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        BrokerAddress.parse(value)  # raises ValueError naming what is wrong
        return value

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
        return [check_topic_filter(topic_filter) for topic_filter in value]

    @field_validator(
        "compress_after",
        "retain_for",
        "system_metrics_retain_for",
        "device_logs_retain_for",
        "activity_log_retain_for",
        mode="before",
    )
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
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
        for name in (
            "system_metrics_retain_for",
            "device_logs_retain_for",
            "activity_log_retain_for",
        ):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name.upper()} must be a positive duration")
        return self

    @property
    def mqtt_uses_tls(self) -> bool:
        if self.mqtt_url is None:
            return False
        return self.mqtt_tls or BrokerAddress.parse(self.mqtt_url).tls

    @property
    def binds_loopback_only(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")
