"""Malformed measurement payloads for `--bad-ratio`, each one rejected per docs/contract.md §3.

Only unambiguous rejections are generated: a 1970 timestamp, for instance, is corrected by the
backend rather than rejected, so it is not here.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable

from sensorhub.simulate.module import PROFILE_BY_TYPE

MAX_PAYLOAD_BYTES = 64 * 1024


def _malformed_json(rng: random.Random) -> bytes:
    return f'{{"value": {rng.uniform(10, 30):.1f}, "time": '.encode()


def _non_utf8(rng: random.Random) -> bytes:
    return b"\xff\xfe" + f"{rng.uniform(10, 30):.1f}".encode() + b"\xc3\x28"


def _nan(rng: random.Random) -> bytes:
    return rng.choice((b"NaN", b'{"value": NaN}', b"Infinity"))


def _empty(rng: random.Random) -> bytes:
    return rng.choice((b"", b"   ", b'{"value": ""}'))


def _out_of_range(rng: random.Random) -> bytes:
    # Beyond every range in docs/contract.md §2 (the widest tops out at 60000).
    value = rng.choice((-1.0, 1.0)) * rng.uniform(1e6, 1e7)
    return rng.choice((f"{value:.1f}".encode(), f'{{"value": {value:.1f}}}'.encode()))


def _no_value(rng: random.Random) -> bytes:
    return rng.choice((b"{}", b'{"time": "2025-11-30T19:00:00Z"}'))


def _oversized(rng: random.Random) -> bytes:
    padding = "x" * (MAX_PAYLOAD_BYTES + rng.randint(1, 1024))
    return f'{{"value": 21.5, "pad": "{padding}"}}'.encode()


def _boolean(rng: random.Random) -> bytes:
    return rng.choice((b"true", b"false", b'{"value": true}'))


BAD_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "malformed_json": _malformed_json,
    "non_utf8": _non_utf8,
    "nan": _nan,
    "empty": _empty,
    "out_of_range": _out_of_range,
    "no_value": _no_value,
    "oversized": _oversized,
    "boolean": _boolean,
}
_KIND_NAMES = tuple(BAD_KINDS)


def bad_payload(rng: random.Random, kind: str | None = None) -> bytes:
    """One malformed payload, of the given kind or of a random one."""
    return BAD_KINDS[kind or rng.choice(_KIND_NAMES)](rng)


def is_bad(payload: bytes, sensor_type: str) -> bool:
    """True when a measurement payload breaks a rule of docs/contract.md §3.

    A reference check for tests: for the simulator's own traffic it is True exactly for what
    `bad_payload` made, since a good reading always lies inside its sensor profile.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        return True
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return True
    value = _parse_value(text)
    if value is None:
        return True
    profile = PROFILE_BY_TYPE.get(sensor_type)
    return profile is not None and not profile.low <= value <= profile.high


def _parse_value(text: str) -> float | None:
    try:
        document = json.loads(text)
    except ValueError:
        document = text
    if isinstance(document, dict):
        document = document.get("value")
    if isinstance(document, str):
        try:
            document = float(document.strip())
        except ValueError:
            return None
    if isinstance(document, bool) or not isinstance(document, int | float):
        return None
    return float(document) if math.isfinite(document) else None
