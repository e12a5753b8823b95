"""The receive times of receipts travel as float8 epoch seconds (db/writes.py): exact to the µs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.batch import Batch

POSTGRES_EPOCH = 946_684_800
"""2000-01-01 in Unix seconds: PostgreSQL's `to_timestamp(float8)` counts from there."""
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXACT_UNTIL = datetime(2106, 2, 7)
"""2**32 Unix seconds: past it a float8 of epoch seconds no longer resolves microseconds (the
receive times are sensorhub's clock, so this is far off)."""


def postgres_to_timestamp(seconds: float) -> datetime:
    """What `to_timestamp` makes of float8 `seconds` (float8_timestamptz: shift, scale, rint)."""
    microseconds = round((seconds - POSTGRES_EPOCH) * 1_000_000)
    return UNIX_EPOCH + timedelta(seconds=POSTGRES_EPOCH, microseconds=microseconds)


@given(
    st.lists(
        st.datetimes(min_value=datetime(1971, 1, 1), max_value=EXACT_UNTIL, timezones=st.just(UTC)),
        max_size=20,
    )
)
def test_receive_times_survive_the_text_encoding(times: list[datetime]) -> None:
    batch = Batch()
    batch.receipts = [(n + 1, n, t) for n, t in enumerate(times)]
    sent = batch.receipt_seconds
    assert [postgres_to_timestamp(seconds) for seconds in sent] == times
    assert batch.receipts == [(n + 1, n, t) for n, t in enumerate(times)]
