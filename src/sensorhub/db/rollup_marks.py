"""Which (minute, module, sensor) buckets a batch of measurements makes the rollup recompute.

Computed in Python from the rows' epoch seconds (in SQL it cost a third of the write); the write
queues them in `measurements_rollup_dirty` in the same statement as the rows
(sensorhub.db.writes), which the minute rollup of history depends on (sensorhub.db.rollup).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import floordiv, itemgetter

from sensorhub.ingest.batch import MeasurementKey

Marks = tuple[list[int], list[str], list[str]]
"""(minute, module, sensor) buckets as three columns; minutes are counted from the Unix epoch."""


def minutes_touched(
    rows: Sequence[MeasurementKey], seconds: Sequence[float], before: float | None = None
) -> Marks:
    """The buckets of a batch's measurement keys `rows`, whose times are `seconds` since the
    epoch, sorted: every (minute, module, sensor) holding a row, and no other.

    With `before` (epoch seconds), only minutes of hours starting before it (TimescaleDB queues
    back-filled hours only, `sensorhub.db.rollup.BACKFILL_AGE`).
    A batch within one minute (most live batches) only collects its distinct sensors.
    """
    first, last = int(min(seconds) // 60), int(max(seconds) // 60)
    touched: set[tuple[float, str, str]]
    if first == last:
        touched = {(first, m, s) for m, s in set(map(itemgetter(1, 2), rows))}
    else:
        touched = set(
            zip(
                map(floordiv, seconds, repeat(60.0)),
                map(itemgetter(1), rows),
                map(itemgetter(2), rows),
                strict=True,
            )
        )
    keys = sorted(touched)
    if before is not None:
        keys = [key for key in keys if key[0] // 60 * 3600 < before]
    return [int(m) for m, _, _ in keys], [m for _, m, _ in keys], [s for _, _, s in keys]
