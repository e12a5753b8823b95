"""The minutes a batch queues for the rollup: exactly the minutes holding a row of each sensor
(sensorhub.db.rollup_marks.minutes_touched)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.db.rollup_marks import minutes_touched
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import Measurement

T0 = datetime(2026, 11, 30, 12, 30, 30, tzinfo=UTC)


def batch_of(rows: list[tuple[float, str, str]]) -> Batch:
    batch = Batch()
    for seconds, module, sensor in rows:
        time = T0 + timedelta(seconds=seconds)
        batch.add_measurement(Measurement(time, module, sensor, "", 1.0))
    return batch


def marked(batch: Batch, before: datetime | None = None) -> list[tuple[datetime, str, str]]:
    rows = list(batch.measurements)
    seconds = [time.timestamp() for time, _, _, _ in batch.readings]
    limit = None if before is None else before.timestamp()
    minutes, modules, sensors = minutes_touched(rows, seconds, limit)
    assert all(isinstance(minute, int) for minute in minutes)
    starts = [datetime.fromtimestamp(minute * 60, UTC) for minute in minutes]
    return list(zip(starts, modules, sensors, strict=True))


def minute_of(time: datetime) -> datetime:
    return time.replace(second=0, microsecond=0)


def hour_of(time: datetime) -> datetime:
    return time.replace(minute=0, second=0, microsecond=0)


rows = st.lists(
    st.tuples(
        st.floats(-3 * 86_400, 3 * 86_400, allow_nan=False),
        st.sampled_from(["m1", "m2"]),
        st.sampled_from(["temperature", "humidity"]),
    ),
    min_size=1,
    max_size=60,
)


@given(rows, st.none() | st.floats(-3 * 86_400, 3 * 86_400, allow_nan=False))
def test_exactly_the_minutes_holding_a_row_are_marked_sorted_once(
    rows: list[tuple[float, str, str]], before_s: float | None
) -> None:
    batch = batch_of(rows)
    before = None if before_s is None else T0 + timedelta(seconds=before_s)
    exact = {
        (minute_of(t), m, s)
        for t, m, s, _ in batch.readings
        if before is None or hour_of(t) < before
    }
    result = marked(batch, before)
    assert result == sorted(exact)


def test_a_batch_within_one_minute_marks_each_sensor_once() -> None:
    batch = batch_of([(n / 10, f"m{n % 3}", "t") for n in range(100)])
    assert marked(batch) == [(minute_of(T0), f"m{n}", "t") for n in range(3)]


def test_a_clock_far_off_marks_only_the_minutes_with_rows() -> None:
    batch = batch_of([(0, "m1", "t"), (-400 * 86_400, "m1", "t")])
    far = T0 - timedelta(days=400)
    assert marked(batch) == [(minute_of(far), "m1", "t"), (minute_of(T0), "m1", "t")]
    assert marked(batch, before=T0 - timedelta(days=1)) == [(minute_of(far), "m1", "t")]


def test_backfill_only_keeps_every_minute_of_an_hour_starting_before_the_limit() -> None:
    batch = batch_of([(0, "m1", "t"), (-3600, "m1", "t")])
    limit = hour_of(T0) + timedelta(seconds=1)  # the current hour started before it
    assert marked(batch, before=limit) == [
        (minute_of(T0 - timedelta(hours=1)), "m1", "t"),
        (minute_of(T0), "m1", "t"),
    ]
    assert marked(batch, before=hour_of(T0)) == [(minute_of(T0 - timedelta(hours=1)), "m1", "t")]
