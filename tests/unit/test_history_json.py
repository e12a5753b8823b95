"""`points_json` writes exactly what orjson writes for the same points as dicts and datetimes."""

from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.modules.devices.history_json import points_json

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
values = st.floats(allow_nan=False, allow_infinity=False)


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
