"""Which (hour, module, sensor) buckets a batch of measurements makes the rollup recompute.

Computed in Python from the rows' epoch seconds (in SQL it cost a third of the write); the write
queues them in `measurements_rollup_dirty` in the same statement as the rows
(sensorhub.db.writes), which the minute rollup of history depends on (sensorhub.db.rollup).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from sensorhub.ingest.batch import MeasurementKey

MARK_SPAN_HOURS = 24
"""A sensor's rows in one batch spanning at most this many hours mark every hour of the span."""

Marks = tuple[list[int], list[str], list[str]]
"""(hour, module, sensor) buckets as three columns; hours are counted from the Unix epoch."""


def hours_touched(
    rows: Sequence[MeasurementKey], seconds: Sequence[float], before: float | None = None
) -> Marks:
    """The buckets of a batch's measurement keys `rows`, whose times are `seconds` since the
    epoch (only hours starting before `before` epoch seconds when given), sorted.

    A batch within one hour (live and most backlogs) costs a third of taking each row's hour;
    otherwise each sensor's hours are those from its earliest to its latest row (marking an hour
    without rows only recomputes it), row by row past MARK_SPAN_HOURS.
    """
    first, last = int(min(seconds) // 3600), int(max(seconds) // 3600)
    touched: set[tuple[int, str, str]] = set()
    if first == last:  # the usual batch: one hour, each sensor once
        touched.update((first, m, s) for m, s in set(map(itemgetter(1, 2), rows)))
    else:
        touched = _hours_by_sensor(rows, seconds)
    keys = sorted(touched)
    if before is not None:
        keys = [key for key in keys if key[0] * 3600 < before]
    return [h for h, _, _ in keys], [m for _, m, _ in keys], [s for _, _, s in keys]


def _hours_by_sensor(
    rows: Sequence[MeasurementKey], seconds: Sequence[float]
) -> set[tuple[int, str, str]]:
    """(hour, module, sensor) of rows spanning several hours, through each sensor's span."""
    spans: dict[tuple[str, str], list[float]] = {}
    for t, (_, m, s, _) in zip(seconds, rows, strict=True):
        span = spans.get((m, s))
        if span is None:
            spans[m, s] = [t, t]
        elif t < span[0]:
            span[0] = t
        elif t > span[1]:
            span[1] = t
    touched: set[tuple[int, str, str]] = set()
    wide: set[tuple[str, str]] = set()
    for (m, s), (first, last) in spans.items():
        start, end = int(first // 3600), int(last // 3600)
        if end - start < MARK_SPAN_HOURS:
            touched.update((hour, m, s) for hour in range(start, end + 1))
        else:
            wide.add((m, s))
    if wide:
        touched.update(
            (int(t // 3600), m, s)
            for t, (_, m, s, _) in zip(seconds, rows, strict=True)
            if (m, s) in wide
        )
    return touched
