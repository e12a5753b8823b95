"""Which time a message is stored at (issue 12.3) and when a module booted (issue 12.8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.clock import CLOCK_SET_FLOOR, boot_time, resolve_time
from sensorhub.ingest.fields import IgnoredReason
from sensorhub.ingest.messages import InvalidMessage, RejectReason
from sensorhub.ingest.rules import InterpretRules

RECEIVED = datetime(2025, 11, 30, 19, 0, tzinfo=UTC)
RULES = InterpretRules(retain_for=timedelta(days=90))
IR = IgnoredReason


@pytest.mark.parametrize(
    ("offset", "kept"),
    [
        (timedelta(0), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, seconds=1), False),  # ahead beyond the skew: corrected
        (timedelta(minutes=6), False),
        (-timedelta(days=7, seconds=1), True),  # was re-stamped to now before issue 12.3
        (-timedelta(days=8), True),
        (-timedelta(days=90), True),
    ],
)
def test_clock_window(offset: timedelta, kept: bool) -> None:
    device_time = RECEIVED + offset
    expected = (device_time, False, True) if kept else (RECEIVED, True, False)
    assert resolve_time(device_time.isoformat(), RECEIVED, RULES) == expected
    assert resolve_time(device_time.timestamp() * 1000, RECEIVED, RULES) == expected


@pytest.mark.parametrize("offset", [timedelta(days=90, seconds=1), timedelta(days=400)])
def test_plausible_but_older_than_retention_is_rejected_too_old(offset: timedelta) -> None:
    with pytest.raises(InvalidMessage) as raised:
        resolve_time((RECEIVED - offset).isoformat(), RECEIVED, RULES)
    assert raised.value.reason is RejectReason.TOO_OLD


def test_retention_horizon_comes_from_the_rules() -> None:
    eight_days_ago = (RECEIVED - timedelta(days=8)).timestamp()
    short = InterpretRules(retain_for=timedelta(days=7))
    with pytest.raises(InvalidMessage):
        resolve_time(eight_days_ago, RECEIVED, short)
    assert resolve_time(eight_days_ago, RECEIVED, RULES)[2] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (RECEIVED, False, False)),  # no timestamp: receive time, not a correction
        ("", (RECEIVED, False, False)),
        ("  ", (RECEIVED, False, False)),
        (0, (RECEIVED, True, False)),  # 1970: clock never set
        (12, (RECEIVED, True, False)),  # an uptime
        (86_400 * 365 * 10, (RECEIVED, True, False)),  # ten years of uptime: still before 2020
        ("2019-12-31T23:59:59Z", (RECEIVED, True, False)),
        ("2999-01-01T00:00:00Z", (RECEIVED, True, False)),
        (32503680000000, (RECEIVED, True, False)),  # year 3000 in ms
        ("yesterday", (RECEIVED, True, False)),
        (True, (RECEIVED, True, False)),
        ([1], (RECEIVED, True, False)),
        (1764529140, (RECEIVED - timedelta(minutes=1), False, True)),
    ],
)
def test_resolve_time(value: object, expected: tuple[datetime, bool, bool]) -> None:
    assert resolve_time(value, RECEIVED, RULES) == expected


def test_resolve_time_accepts_other_timezones() -> None:
    paris = timezone(timedelta(hours=1))
    received = RECEIVED.astimezone(paris)
    assert resolve_time("2025-11-30T19:30:00+01:00", received, RULES)[0] == RECEIVED - timedelta(
        minutes=30
    )


@given(st.integers(min_value=0, max_value=int(CLOCK_SET_FLOOR.timestamp()) - 1))
def test_uptime_sized_times_are_always_corrected(seconds: int) -> None:
    assert resolve_time(seconds, RECEIVED, RULES) == (RECEIVED, True, False)


@pytest.mark.parametrize(
    ("uptime_start", "booted_at"),
    [
        (3600, RECEIVED - timedelta(hours=1)),  # the seed firmware: seconds since boot
        ("3600", RECEIVED - timedelta(hours=1)),
        (12345.5, RECEIVED - timedelta(seconds=12345.5)),
        (0, RECEIVED),
        (1764511200, RECEIVED - timedelta(hours=5)),  # epoch seconds
        (1764511200500, RECEIVED - timedelta(hours=5) + timedelta(milliseconds=500)),  # ms
        ("2025-11-01T00:00:00Z", datetime(2025, 11, 1, tzinfo=UTC)),  # long uptime is fine
        (1700000000, datetime.fromtimestamp(1700000000, UTC)),  # an old epoch stays an epoch
        ("2019-06-01T00:00:00Z", IR.IMPLAUSIBLE_TIME),  # clock never set
        ((RECEIVED + timedelta(hours=1)).isoformat(), IR.IMPLAUSIBLE_TIME),  # in the future
        (-5, IR.OUT_OF_RANGE),
        ("3 days", IR.UNIT_SUFFIX),
        ("soon", IR.NOT_A_NUMBER),
        ("", IR.BLANK),
        (True, IR.WRONG_TYPE),
        (None, IR.NULL),
    ],
)
def test_boot_time(uptime_start: object, booted_at: datetime | IgnoredReason) -> None:
    assert boot_time(uptime_start, RECEIVED, RULES) == booted_at
