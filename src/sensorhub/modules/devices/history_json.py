"""The seed's history shape, `[{"time": "…Z", "value": 21.5}, …]`, encoded from two columns.

A datetime decoded by asyncpg, a dict and orjson's encoding of both cost about 1 µs per reading
(86,400 a day at 1 Hz); here times arrive as integer microseconds since the epoch. Times in
whole seconds (the usual case) are assembled from per-day and per-second texts by C-level maps
and one join; times with fractions of a second by one f-string per point. The text is what
orjson writes for the same UTC datetimes with `OPT_UTC_Z`: `2026-11-30T23:16:18Z`, or
`…18.500000Z` when there are microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache, lru_cache
from itertools import repeat
from operator import floordiv, mod, sub

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
    if len(micros) != len(values):
        raise ValueError(f"{len(micros)} times for {len(values)} values")
    if not values:
        return orjson.Fragment("[]")
    value_texts = orjson.dumps(values)[1:-1].decode().split(",")
    if any(map(mod, micros, repeat(MICROS))):
        return _points_with_fractions(micros, value_texts)
    # Whole seconds (readings of most sensors): built by C-level maps and one join, no loop.
    seconds = list(map(floordiv, micros, repeat(MICROS)))
    parts: list[str] = [""] * (4 * len(seconds))
    parts[0::4] = _day_prefixes(seconds)
    parts[1::4] = map(_clock_to_value().__getitem__, map(mod, seconds, repeat(SECONDS_PER_DAY)))
    parts[2::4] = value_texts
    parts[3::4] = repeat("},", len(seconds))
    parts[-1] = "}"
    return orjson.Fragment(f"[{''.join(parts)}]")


MICROS = 1_000_000


@cache
def _clock_to_value() -> list[str]:
    """`HH:MM:SSZ","value":` for every second of a day (built once, on first use)."""
    return [f'{clock}Z","value":' for clock in _clock()]


def _day_prefixes(seconds: list[int]) -> Iterable[str]:
    """`{"time":"YYYY-MM-DDT` for each time in seconds since the epoch."""
    first, last = min(seconds) // SECONDS_PER_DAY, max(seconds) // SECONDS_PER_DAY
    if first == last:
        return repeat(f'{{"time":"{_day(first)}', len(seconds))
    days = map(floordiv, seconds, repeat(SECONDS_PER_DAY))
    if last - first > len(seconds):
        return (f'{{"time":"{_day(day)}' for day in days)
    prefixes = [f'{{"time":"{_day(day)}' for day in range(first, last + 1)]
    return map(prefixes.__getitem__, map(sub, days, repeat(first)))


def _points_with_fractions(micros: list[int], value_texts: list[str]) -> orjson.Fragment:
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
