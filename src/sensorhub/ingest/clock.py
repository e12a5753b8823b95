"""Which time a message is stored at: the device's own, or the receive time when the device's
clock cannot be trusted.

An ESP32 counts from 1970 at boot until NTP sets its clock, so a time before 2020 (or a number
that small, which is an uptime) means "clock never set" and is replaced by the receive time,
counted as a clock correction; so is a time further ahead than the allowed skew. An older time
that is plausible (a module flushing readings it buffered while offline) is kept as long as it is
inside `RETAIN_FOR`, and rejected as `too_old` beyond it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from sensorhub.ingest.fields import IgnoredReason, read_float
from sensorhub.ingest.messages import InvalidMessage, RejectReason
from sensorhub.ingest.normalize import EPOCH, epoch_to_datetime, to_datetime
from sensorhub.ingest.rules import InterpretRules

CLOCK_SET_FLOOR: Final = datetime(2020, 1, 1, tzinfo=UTC)
"""Device times before this come from a clock that was never set."""
UPTIME_LIMIT: Final = (CLOCK_SET_FLOOR - EPOCH).total_seconds()
"""Numbers of seconds below this are uptimes, not epoch times (50 years)."""


def resolve_time(
    value: object, received_at: datetime, rules: InterpretRules
) -> tuple[datetime, bool, bool]:
    """The time to store a message at, and how it was found.

    Args:
        value: The payload's `time`: epoch seconds or milliseconds (number or text), ISO 8601.
        received_at: The receive time, tz-aware UTC.
        rules: The skew allowed ahead and the retention horizon.

    Returns:
        `(time, corrected, device_time)`: no time (missing, null, blank) gives the receive time
        with both flags False; an unreadable, before-2020 or too-far-ahead time gives the receive
        time, `corrected`; a plausible time is kept, `device_time`.

    Raises:
        InvalidMessage: TOO_OLD for a plausible time older than `rules.retain_for`.
    """
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        when = epoch_to_datetime(value)  # the common case: epoch seconds or milliseconds
    elif value is None or (isinstance(value, str) and not value.strip()):
        return received_at, False, False
    else:
        when = to_datetime(value)
    if when is None or when < CLOCK_SET_FLOOR or when - received_at > rules.max_ahead:
        return received_at, True, False
    if received_at - when > rules.retain_for:
        raise InvalidMessage(
            RejectReason.TOO_OLD,
            f"device time {when.isoformat()} is older than RETAIN_FOR ({rules.retain_for})",
        )
    return when, False, True


def boot_time(
    value: object, received_at: datetime, rules: InterpretRules
) -> datetime | IgnoredReason:
    """When a module booted, from its `uptimeStart`.

    The seed firmware sends seconds since boot (`millis() / 1000`): a number below 50 years of
    seconds is such an uptime, giving `received_at - uptime`. A larger number is an epoch
    (seconds, or milliseconds above 1e11) and ISO 8601 text a time, both kept unless they are
    before 2020 (clock never set) or ahead of the receive time by more than the allowed skew.

    Returns:
        The boot time, tz-aware UTC, or why the value was ignored.
    """
    number = read_float(value)
    if number is IgnoredReason.NOT_A_NUMBER:
        found = to_datetime(value)  # ISO 8601 text
        if found is None:
            return number
        when = found
    elif isinstance(number, IgnoredReason):
        return number
    elif number < 0:
        return IgnoredReason.OUT_OF_RANGE
    elif number < UPTIME_LIMIT:
        return received_at - timedelta(seconds=number)
    else:
        found = to_datetime(number)
        if found is None:
            return IgnoredReason.OUT_OF_RANGE
        when = found
    if when < CLOCK_SET_FLOOR or when - received_at > rules.max_ahead:
        return IgnoredReason.IMPLAUSIBLE_TIME
    return when
