"""The hours a batch queues for the rollup: every hour holding a row, and only hours within each
sensor's span of rows (sensorhub.db.rollup_marks.hours_touched)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.db.rollup_marks import MARK_SPAN_HOURS, hours_touched
from sensorhub.ingest.batch import Batch
from sensorhub.ingest.messages import Measurement

T0 = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


def batch_of(rows: list[tuple[float, str, str]]) -> Batch:
    batch = Batch()
    for seconds, module, sensor in rows:
        time = T0 + timedelta(seconds=seconds)
        batch.add_measurement(Measurement(time, module, sensor, "", 1.0))
    return batch


def marked(batch: Batch, before: datetime | None = None) -> set[tuple[datetime, str, str]]:
    rows = list(batch.measurements)
    seconds = [time.timestamp() for time, _, _, _ in batch.readings]
    limit = None if before is None else before.timestamp()
    hours, modules, sensors = hours_touched(rows, seconds, limit)
    starts = [datetime.fromtimestamp(hour * 3600, UTC) for hour in hours]
    return set(zip(starts, modules, sensors, strict=True))


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


@given(rows)
def test_every_hour_with_a_row_is_marked_and_none_outside_a_sensors_span(
    rows: list[tuple[float, str, str]],
) -> None:
    batch = batch_of(rows)
    exact = {(hour_of(t), m, s) for t, m, s, _ in batch.readings}
    result = marked(batch)
    assert exact <= result
    for hour, module, sensor in result - exact:
        times = [t for t, m, s, _ in batch.readings if (m, s) == (module, sensor)]
        assert hour_of(min(times)) < hour < hour_of(max(times))
        assert max(times) - min(times) < timedelta(hours=MARK_SPAN_HOURS)


def test_a_batch_within_one_hour_marks_each_sensor_once() -> None:
    batch = batch_of([(n, f"m{n % 3}", "t") for n in range(100)])
    assert marked(batch) == {(hour_of(T0), f"m{n}", "t") for n in range(3)}


def test_a_clock_far_off_marks_only_the_hours_with_rows() -> None:
    batch = batch_of([(0, "m1", "t"), (-400 * 86_400, "m1", "t")])
    far = T0 - timedelta(days=400)
    assert marked(batch) == {(hour_of(T0), "m1", "t"), (hour_of(far), "m1", "t")}
    assert marked(batch, before=T0 - timedelta(days=1)) == {(hour_of(far), "m1", "t")}
