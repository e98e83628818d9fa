"""Celery ``crontab`` arguments to cron fields, checked by croniter.

Celery users write ``crontab(minute=0, hour='*/3', day_of_week='mon-fri')`` with ints,
sets or pattern strings; croniter reads cron expressions. This module translates one into
the other and lets croniter (not a hand-written parser) validate every field, so errors
name the Celery argument. Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from croniter import CroniterError, croniter

#: One crontab argument: int, Celery/cron pattern string, iterable of ints, None (= '*').
CronField = int | str | Iterable[int] | None

#: Celery's argument names in cron-expression order, with their inclusive ranges.
CRON_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day_of_month", 1, 31),
    ("month_of_year", 1, 12),
    ("day_of_week", 0, 6),
)

#: The ``@`` shorthands accepted by ``crontab.from_string``.
CRON_MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WORD = re.compile(r"[A-Za-z]+")


def cron_field(position: int, name: str, lo: int, hi: int, value: CronField) -> str:
    """One crontab argument as a cron field, validated by croniter."""
    if value is None:
        return "*"
    if isinstance(value, str):
        text = "".join(value.split())
        if name == "day_of_week":  # Celery reads any word by its first three letters
            text = _WORD.sub(_day_abbreviation, text)
        if not text:
            raise ValueError(f"crontab field {name} is empty")
        probe = ["*"] * 5
        probe[position] = text
        try:
            croniter.expand(" ".join(probe))
        except (CroniterError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"crontab field {name}={value!r} is invalid: {exc}") from exc
        return text
    numbers: list[Any]
    if isinstance(value, int) and not isinstance(value, bool):
        numbers = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        numbers = list(value)
    else:
        raise ValueError(
            f"crontab field {name} must be an int, a pattern string or an iterable of ints, "
            f"got {type(value).__name__}"
        )
    if not numbers:
        raise ValueError(f"crontab field {name} is empty")
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool):
            raise ValueError(f"crontab field {name}: {n!r} is not an int")
        if not lo <= n <= hi:
            raise ValueError(f"crontab field {name}: {n} is out of range {lo}-{hi}")
    return ",".join(str(n) for n in sorted(set(numbers)))


def match_key(expr: str) -> tuple[tuple[str, ...], ...]:
    """What a cron expression matches, independent of spelling ('sun' == '0' == '7')."""
    fields, nth_weekday = croniter.expand(expr)
    key = []
    for values, (_name, lo, hi) in zip(fields, CRON_FIELDS, strict=True):
        expanded = range(lo, hi + 1) if values == ["*"] else values
        key.append(tuple(sorted({str(v) for v in expanded})))
    key.append(tuple(sorted(f"{day}#{n}" for day, ns in nth_weekday.items() for n in ns)))
    return tuple(key)


def _day_abbreviation(match: re.Match[str]) -> str:
    word = match.group(0)
    return word[:3].lower() if word[:3].lower() in _DAY_NAMES else word
