"""db/array_literals.py: PostgreSQL reads each literal back as exactly the values it was built
from, whatever they contain."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorhub.db import array_literals

# Text that can reach the writer: valid UTF-8 (topics are decoded from it, so no lone surrogates)
# and no NUL, which PostgreSQL text cannot hold.
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
NASTY = ['"', "\\", ",", "{", "}", " ", "", "NULL", 'a"b\\c', "{a,b}", " x ", "é/ü", "\t\n"]


async def parsed(database_server_url: str, literal: str, sql_type: str) -> list[object]:
    connection = await asyncpg.connect(database_server_url)
    try:
        return list(await connection.fetchval(f"SELECT $1::text::{sql_type}", literal))
    finally:
        await connection.close()


async def test_awkward_texts_round_trip(database_server_url: str) -> None:
    for values in ([], NASTY, ["plain", "values"], [*NASTY, *NASTY]):
        literal = array_literals.texts(values)
        assert await parsed(database_server_url, literal, "text[]") == values


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(texts, st.sampled_from(NASTY)), max_size=8))
def test_any_texts_round_trip(database_server_url: str, values: list[str]) -> None:
    literal = array_literals.texts(values)
    assert asyncio.run(parsed(database_server_url, literal, "text[]")) == values


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8))
def test_integers_round_trip(database_server_url: str, values: list[int]) -> None:
    literal = array_literals.integers(values)
    assert asyncio.run(parsed(database_server_url, literal, "int8[]")) == values


def test_a_nul_character_is_refused() -> None:
    with pytest.raises(ValueError):
        array_literals.texts(["a\x00b"])
