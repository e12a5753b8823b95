"""`points_json` writes exactly what orjson writes for the same points as dicts and datetimes."""

from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.modules.devices.history_json import points_json

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
values = st.floats(allow_nan=False, allow_infinity=False)

points_json([0, 1], [0.0, 1.0])  # builds the per-second tables once, outside any deadline


def _micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@given(st.lists(st.tuples(moments, values), max_size=50))
def test_same_text_as_orjson_of_dicts(points: list[tuple[datetime, float]]) -> None:
    expected = orjson.dumps(
        [{"time": moment, "value": value} for moment, value in points], option=orjson.OPT_UTC_Z
    )
    fragment = points_json([_micros(m) for m, _ in points], [v for _, v in points])
    assert orjson.dumps({"k": fragment}) == b'{"k":' + expected + b"}"


whole_seconds = moments.map(lambda moment: moment.replace(microsecond=0))


@given(st.lists(st.tuples(whole_seconds, values), max_size=50), st.booleans())
def test_whole_seconds_same_text_as_orjson(
    points: list[tuple[datetime, float]], newest_first: bool
) -> None:
    """Whole seconds take the assembled path: one day, a few days, or any order of days."""
    if newest_first:
        points.sort(reverse=True)
    expected = orjson.dumps(
        [{"time": moment, "value": value} for moment, value in points], option=orjson.OPT_UTC_Z
    )
    fragment = points_json([_micros(m) for m, _ in points], [v for _, v in points])
    assert orjson.dumps({"k": fragment}) == b'{"k":' + expected + b"}"


def test_a_day_of_seconds_across_midnight() -> None:
    start = datetime(2026, 11, 30, 12, tzinfo=UTC)
    points = [(start + timedelta(seconds=s), s / 8) for s in range(86_400)][::-1]
    expected = orjson.dumps(
        [{"time": moment, "value": value} for moment, value in points], option=orjson.OPT_UTC_Z
    )
    fragment = points_json([_micros(m) for m, _ in points], [v for _, v in points])
    assert orjson.dumps(fragment) == expected
