"""The seed's history shape, `[{"time": "…Z", "value": 21.5}, …]`, encoded from two columns.

A datetime decoded by asyncpg, a dict and orjson's encoding of both cost about 1 µs per reading
(86,400 a day at 1 Hz); here times arrive as integer microseconds since the epoch and each
point is one f-string. The text is what orjson writes for the same UTC datetimes with
`OPT_UTC_Z`: `2026-11-30T23:16:18Z`, or `…18.500000Z` when there are microseconds.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache, lru_cache

import orjson

EPOCH_DAY = date(1970, 1, 1)
SECONDS_PER_DAY = 86_400


@lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return f"{(EPOCH_DAY + timedelta(days=days)).isoformat()}T"


@cache
def _clock() -> list[str]:
    """`HH:MM:SS` for every second of a day (built once, on first use)."""
    return [
        f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        for second in range(SECONDS_PER_DAY)
    ]


def points_json(micros: list[int], values: list[float]) -> orjson.Fragment:
    """The JSON array of `{"time", "value"}` points, in the order given.

    `micros`: times in µs since the epoch; `values`: finite floats, as many.
    """
    value_texts = orjson.dumps(values)[1:-1].decode().split(",") if values else []
    clock = _clock()
    day = _day
    items = []
    for us, value in zip(micros, value_texts, strict=True):
        seconds, fraction = divmod(us, 1_000_000)
        days, second = divmod(seconds, SECONDS_PER_DAY)
        if fraction:
            items.append(f'{{"time":"{day(days)}{clock[second]}.{fraction:06d}Z","value":{value}}}')
        else:
            items.append(f'{{"time":"{day(days)}{clock[second]}Z","value":{value}}}')
    return orjson.Fragment(f"[{','.join(items)}]")
