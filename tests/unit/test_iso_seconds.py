"""`IsoSeconds` (ingest/iso_seconds.py) answers `to_datetime(text).timestamp()`, cached or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from sensorhub.ingest.iso_seconds import MAX_HEADS, IsoSeconds
from sensorhub.ingest.normalize import to_datetime

MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(None)
)
OFFSETS = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
)
SPECS = st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"])
ODD = st.sampled_from(
    [
        "2026-12-01T07:26:25,123+00:00",
        "2026-12-01 07:26:25.5",
        " 2026-12-01T07:26:25Z",
        "2026-12-01T07:26:25Z ",
        "2026-12-01T07:26:25.1234567+00:00",
        "2026-12-01T07:26:25.123z",
        "2026-02-30T07:26:25Z",
        "2026-12-01T24:00:00",
        "2026-12-01T07:26:25+24:00",
        "2026-12-01T07:26:25+01:00:30",
        "2026-12-01T07:26",
        "20261201T072625Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "junk",
        "1764566400",
        "17645664:00",
    ]
)


def _text(moment: datetime, offset: timezone | None, spec: str, zulu: bool) -> str:
    text = moment.replace(tzinfo=offset).isoformat(timespec=spec)
    return text[:-6] + "Z" if zulu and text.endswith("+00:00") else text


TEXTS = st.one_of(st.builds(_text, MOMENTS, OFFSETS, SPECS, st.booleans()), ODD)


def _expected(text: str) -> float | None:
    when = to_datetime(text)
    return None if when is None else when.timestamp()


@given(st.lists(TEXTS, min_size=1, max_size=30))
@example(["2026-12-01T07:26:25.026417+00:00", "2026-12-01T07:26:26.500+05:30"])
def test_cached_parts_give_what_the_full_parse_gives(texts: list[str]) -> None:
    """Parts learnt from one time, combined with parts of another, read as the whole does."""
    iso = IsoSeconds()
    for text in texts:  # learn
        assert iso.seconds(text) == _expected(text)
    heads, tails = list(iso.heads), list(iso.tails)
    for head in heads:  # every combination of known parts is answered from the caches
        for tail in tails:
            combined = head + tail
            assert iso.seconds(combined) == _expected(combined), combined


def test_a_full_cache_starts_again() -> None:
    iso = IsoSeconds()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for second in range(MAX_HEADS + 10):
        text = (start + timedelta(seconds=second)).isoformat()
        assert iso.seconds(text) == _expected(text)
    assert len(iso.heads) <= MAX_HEADS
