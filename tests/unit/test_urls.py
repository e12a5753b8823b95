"""The URL helpers: one parser per kind of URL, on Pydantic (MQTT) and SQLAlchemy (PostgreSQL)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.broker_url import BrokerAddress, redact_broker_url
from sensorhub.db.urls import database_name, redact_database_url, sqlalchemy_url, with_database

EMBEDDED = "postgresql://postgres@/sensorhub?host=/tmp/pg socket&port=5433"


def test_another_database_on_the_same_server_keeps_credentials_and_query() -> None:
    url = with_database("postgresql://u:p%40ss@db:5432/postgres?sslmode=require", "t_1")
    assert url == "postgresql://u:p%40ss@db:5432/t_1?sslmode=require"
    assert database_name(url) == "t_1"
    embedded = with_database(EMBEDDED, "other")
    assert database_name(embedded) == "other"
    assert "host=%2Ftmp%2Fpg+socket" in embedded and "port=5433" in embedded


def test_driver_and_redaction() -> None:
    assert sqlalchemy_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert redact_database_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact_database_url("postgresql://h/db") == "postgresql://h/db"
    assert database_name("postgresql://h") == "postgres"


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [
        ("mqtt://broker", "broker", 1883, False),
        ("mqtts://broker", "broker", 8883, True),
        ("ssl://broker:9999", "broker", 9999, True),
        ("tcp://[::1]:1884", "::1", 1884, False),
        ("127.0.0.1:1885", "127.0.0.1", 1885, False),
    ],
)
def test_broker_addresses(url: str, host: str, port: int, tls: bool) -> None:
    address = BrokerAddress.parse(url)
    assert (address.host, address.port, address.tls) == (host, port, tls)


@pytest.mark.parametrize("url", ["http://broker", "mqtt://broker:70000", "mqtt://", "mqtt://b:x"])
def test_bad_broker_urls_raise_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        BrokerAddress.parse(url)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), min_size=1))
def test_credentials_round_trip_and_never_show_in_redacted_form(password: str) -> None:
    from urllib.parse import quote

    url = f"mqtt://user:{quote(password, safe='')}@broker:1883"
    assert BrokerAddress.parse(url).password == password
    assert redact_broker_url(url) == "mqtt://user:***@broker:1883"
