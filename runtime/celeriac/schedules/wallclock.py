"""Wall-clock time to instants: the one place that applies the daylight-saving rule.

Cron fields name local wall-clock times; the beat needs instants. This module maps one to
the other so that, across a transition, a wall-clock time is neither skipped nor doubled:

- a time in a spring-forward gap (02:30 on 2026-03-29 in Europe/Berlin) maps to the first
  instant after the gap (03:00 local), so several gap times collapse into that one instant;
- a time that occurs twice (02:30 on 2026-10-25 in Europe/Berlin) maps to its first
  occurrence only.

Every instant returned is an aware ``datetime`` in UTC.

Pure: no clock reads, no I/O beyond the tz database that ``zoneinfo`` itself consults.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: How far back a fall-back transition is looked for; longer than any real DST shift.
FOLD_WINDOW = timedelta(hours=3)


def require_aware(value: datetime, what: str) -> datetime:
    """Return ``value`` converted to UTC, refusing naive datetimes.

    Raises:
        ValueError: if ``value`` is not a timezone-aware ``datetime``.
    """
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def wall_to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """Map a naive wall-clock time in ``tz`` to the UTC instant it fires at.

    Args:
        wall: naive local time.
        tz: the zone ``wall`` is read in.

    Returns:
        The instant of ``wall`` (its first occurrence when it happens twice), or, when
        ``wall`` does not exist, the first instant after the gap (the transition itself).
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    return _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: tzinfo) -> datetime:
    # fold=0 and fold=1 read the missing time with the offsets before and after the jump:
    # the transition instant lies between the two readings. Bisect on whole seconds (tz
    # database transitions fall on whole seconds) for the first one whose wall clock is
    # past ``wall``.
    readings = [wall.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)]
    lo = math.floor(min(readings).timestamp())
    hi = math.ceil(max(readings).timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) > wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def fold_margin(instant: datetime, tz: tzinfo) -> timedelta:
    """How far wall-clock times later than ``instant``'s own may still lie before it.

    During the second pass of a repeated hour (02:20 CET after 03:00 CEST fell back), the
    first-pass times 02:20-02:59 are already in the past although their wall clock is
    later. The margin is the size of a fall-back within ``FOLD_WINDOW`` before ``instant``
    (zero otherwise).
    """
    now_offset = instant.astimezone(tz).utcoffset() or timedelta(0)
    before_offset = (instant - FOLD_WINDOW).astimezone(tz).utcoffset() or timedelta(0)
    return max(timedelta(0), before_offset - now_offset)


def get_timezone(name: str) -> ZoneInfo:
    """Look up an IANA zone such as ``'Europe/Berlin'``.

    Raises:
        ValueError: naming the zone when it is unknown or not a string.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone must be a non-empty IANA name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc
