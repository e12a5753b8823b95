"""`bucket_width`: at most `points` buckets cover the range, whole minutes from 30 s on."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.modules.devices.history_repository import bucket_width
from sensorhub.modules.devices.history_sql import whole_minutes

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
spans = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3660))


@given(moments, spans, st.integers(min_value=1, max_value=5_000))
def test_buckets_cover_the_range_and_never_exceed_points(
    start: datetime, span: timedelta, points: int
) -> None:
    end = start + span
    width = bucket_width(start, end, points)
    assert width >= 1
    assert -(-(end - start) // timedelta(seconds=width)) <= points  # ceil: buckets needed
    if width >= 30:
        assert width % 60 == 0


@given(moments, spans)
def test_whole_minutes_lie_inside_the_range(start: datetime, span: timedelta) -> None:
    end = start + span
    inner_lo, inner_hi = whole_minutes(start, end)
    assert start <= inner_lo <= inner_hi <= end
    if inner_lo < inner_hi:
        assert (
            inner_lo.second == inner_lo.microsecond == inner_hi.second == inner_hi.microsecond == 0
        )
        assert inner_lo - start < timedelta(minutes=1) and end - inner_hi < timedelta(minutes=1)
    else:
        assert inner_lo == inner_hi == end
