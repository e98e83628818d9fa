"""The three kinds of schedule — ``crontab``, ``every`` (alias ``schedule``), ``at`` — and their spec.

A schedule answers one question: when does it fire next, given an instant and the entry's
timezone. Cron fields are parsed and validated by ``croniter`` (never by hand), always
with Celery's semantics: ``day_of_month`` and ``day_of_week`` are ANDed (a day must match
both, like ``celery.schedules.crontab``; Vixie cron ORs them when both are restricted).
Candidate times come from croniter on naive wall-clock time; ``wallclock.wall_to_utc``
turns them into instants with the daylight-saving rule.

Spec (the JSON-able record kept in the schedule registry and written by the operator):
exactly one key, ``{"cron": "*/5 * * * *"}``, ``{"every": 30.0}`` (seconds) or
``{"at": "2026-01-01T00:00:00+00:00"}`` (ISO 8601; without an offset the time is read in
the entry's timezone).

Pure: nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypedDict

from croniter import CroniterBadDateError, croniter

from celeriac.schedules.cronfield import (
    CRON_FIELDS,
    CRON_MACROS,
    CronField,
    cron_field,
    match_key,
)
from celeriac.schedules.wallclock import fold_margin, require_aware, wall_to_utc

_ONE_US = timedelta(microseconds=1)
_REFERENCE = datetime(2000, 1, 1)


class ScheduleSpec(TypedDict, total=False):
    """Wire form of a schedule: exactly one of the three keys is present."""

    cron: str
    every: float
    at: str


class Schedule(ABC):
    """What the beat needs from a schedule. Every instant returned is aware, in UTC."""

    @abstractmethod
    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        """First fire time strictly after ``after`` (None: never again).

        For ``every`` the grid is anchored at ``after``: the answer is ``after + run_every``.
        """

    @abstractmethod
    def latest_between(self, after: datetime, until: datetime, tz: tzinfo) -> datetime | None:
        """Latest fire time ``t`` with ``after < t <= until`` (``every``: grid anchored at ``after``)."""

    def latest_ticks(
        self, after: datetime, until: datetime, tz: tzinfo, limit: int
    ) -> list[datetime]:
        """The latest ``limit`` fire times in ``(after, until]``, oldest first."""
        runs: list[datetime] = []
        while len(runs) < limit:
            latest = self.latest_between(after, until, tz)
            if latest is None:
                break
            runs.append(latest)
            until = latest - _ONE_US
        runs.reverse()
        return runs

    @abstractmethod
    def to_spec(self) -> ScheduleSpec:
        """The JSON-able spec (see the module docstring)."""

    @staticmethod
    def from_spec(spec: Mapping[str, Any]) -> Schedule:
        """Build a schedule from its spec; see ``celeriac.schedules.from_spec``."""
        return from_spec(spec)


class crontab(Schedule):  # Celery's name
    """Celery's ``crontab``: fields are read as wall-clock time in the entry's timezone.

    Args:
        minute: 0-59. Ints, iterables of ints, or patterns like ``'*/15'``, ``'0,30'``, ``'1-5'``.
        hour: 0-23, as ``minute`` (``'*/3'``, ``'0,8-17/2'``).
        day_of_week: 0-6 with Sunday = 0, or names (``'mon-fri'``, ``'sun,sat'``, ``'monday'``).
        day_of_month: 1-31 (croniter's ``'L'`` for the last day also works).
        month_of_year: 1-12 (or ``'jan'``...).

    A day fires only if it matches ``day_of_month``, ``month_of_year`` and ``day_of_week``
    together (Celery's rule). Wrapping ranges (``'fri-mon'``, ``'22-2'``) wrap as in Celery.

    Raises:
        ValueError: naming the field when a field is invalid, or when no date can ever match.
    """

    def __init__(
        self,
        minute: CronField = "*",
        hour: CronField = "*",
        day_of_week: CronField = "*",
        day_of_month: CronField = "*",
        month_of_year: CronField = "*",
    ) -> None:
        given = {
            "minute": minute,
            "hour": hour,
            "day_of_week": day_of_week,
            "day_of_month": day_of_month,
            "month_of_year": month_of_year,
        }
        parts = [
            cron_field(i, name, lo, hi, given[name]) for i, (name, lo, hi) in enumerate(CRON_FIELDS)
        ]
        #: The five-field cron expression (minute hour day-of-month month day-of-week).
        self.expr = " ".join(parts)
        try:
            self._iter(_REFERENCE).get_next(datetime)
        except CroniterBadDateError as exc:
            raise ValueError(
                f"crontab {self.expr!r} never fires: no date matches day_of_month, "
                "month_of_year and day_of_week together"
            ) from exc
        self._key = match_key(self.expr)

    @classmethod
    def from_string(cls, expr: str) -> crontab:
        """Parse a five-field cron string (``'*/5 * * * *'``) or a macro (``'@daily'``).

        The day fields are still ANDed, as everywhere in celeriac.

        Raises:
            ValueError: when the string does not have five fields or a field is invalid.
        """
        if not isinstance(expr, str):
            raise ValueError(f"cron expression must be a string, got {type(expr).__name__}")
        text = CRON_MACROS.get(expr.strip().lower(), expr)
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(
                f"cron expression {expr!r} must have 5 fields "
                f"(minute hour day_of_month month_of_year day_of_week), got {len(fields)}"
            )
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    def _iter(self, start: datetime) -> croniter:
        return croniter(self.expr, start, day_or=False)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime:
        after_utc = require_aware(after, "after")
        # Wall times up to after's own map to instants <= after (the mapping is monotone).
        candidates = self._iter(after_utc.astimezone(tz).replace(tzinfo=None))
        while True:
            instant = wall_to_utc(candidates.get_next(datetime), tz)
            if instant > after_utc:
                return instant

    def latest_between(self, after: datetime, until: datetime, tz: tzinfo) -> datetime | None:
        latest = self.latest_ticks(after, until, tz, 1)
        return latest[0] if latest else None

    def latest_ticks(
        self, after: datetime, until: datetime, tz: tzinfo, limit: int
    ) -> list[datetime]:
        after_utc = require_aware(after, "after")
        until_utc = require_aware(until, "until")
        if limit <= 0 or until_utc <= after_utc:
            return []
        # Start late enough to see first-pass times of a repeated hour that ``until`` is
        # in the second pass of; instants only decrease from there as we walk back.
        wall = until_utc.astimezone(tz).replace(tzinfo=None) + fold_margin(until_utc, tz)
        candidates = self._iter(wall + _ONE_US)  # get_prev is strict: include ``wall``
        runs: list[datetime] = []
        while len(runs) < limit:
            instant = wall_to_utc(candidates.get_prev(datetime), tz)
            if instant <= after_utc:
                break
            if instant <= until_utc and (not runs or instant < runs[-1]):  # gap ticks merge
                runs.append(instant)
        runs.reverse()
        return runs

    def to_spec(self) -> ScheduleSpec:
        return {"cron": self.expr}

    def __eq__(self, other: object) -> bool:  # same times, like Celery's set comparison
        return isinstance(other, crontab) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"<crontab: {self.expr} (m/h/dM/MY/d)>"


class every(Schedule):  # lower-case like Celery's schedule classes
    """A fixed interval of elapsed time, independent of timezones and DST.

    The grid is anchored at the last run: after a run at ``t`` the next is ``t + run_every``.

    Args:
        run_every: a positive ``timedelta`` or number of seconds.

    Raises:
        ValueError: when the interval is not positive and finite.
    """

    def __init__(self, run_every: timedelta | float) -> None:
        #: The interval.
        self.run_every = _interval(run_every)

    @property
    def seconds(self) -> float:
        """The interval in seconds (Celery's ``schedule.seconds``)."""
        return self.run_every.total_seconds()

    def next_after(self, after: datetime, tz: tzinfo) -> datetime:
        return require_aware(after, "after") + self.run_every

    def latest_between(self, after: datetime, until: datetime, tz: tzinfo) -> datetime | None:
        after_utc = require_aware(after, "after")
        steps = (require_aware(until, "until") - after_utc) // self.run_every
        return after_utc + steps * self.run_every if steps >= 1 else None

    def latest_ticks(
        self, after: datetime, until: datetime, tz: tzinfo, limit: int
    ) -> list[datetime]:
        after_utc = require_aware(after, "after")
        steps = (require_aware(until, "until") - after_utc) // self.run_every
        first = max(1, steps - limit + 1)
        return [after_utc + k * self.run_every for k in range(first, steps + 1)]

    def to_spec(self) -> ScheduleSpec:
        return {"every": self.seconds}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, every) and other.run_every == self.run_every

    def __hash__(self) -> int:
        return hash(("every", self.run_every))

    def __repr__(self) -> str:
        return f"<every: {self.seconds:g}s>"


class schedule(every):  # Celery's name
    """Celery's ``schedule(run_every=...)``: the same as ``every``.

    Raises:
        ValueError: for ``relative=True`` (Celery's rounding to the interval is not supported).
    """

    def __init__(self, run_every: timedelta | float, relative: bool = False) -> None:
        if relative:
            raise ValueError(
                "schedule(relative=True) is not supported; use crontab for aligned runs"
            )
        super().__init__(run_every)


def _interval(value: timedelta | float) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"interval must be a timedelta or seconds, got {type(value).__name__}")
    if not isinstance(value, timedelta):
        if not math.isfinite(value):
            raise ValueError(f"interval must be finite, got {value!r}")
        value = timedelta(seconds=value)
    if value <= timedelta(0):
        raise ValueError(f"interval must be positive, got {value.total_seconds()!r} s")
    return value


class at(Schedule):  # lower-case like the other schedules
    """A one-off run at ``when``; a naive ``when`` is wall-clock time in the entry's timezone.

    Raises:
        ValueError: when ``when`` is not a datetime.
    """

    def __init__(self, when: datetime) -> None:
        if not isinstance(when, datetime):
            raise ValueError(f"at() needs a datetime, got {type(when).__name__}")
        #: The time given, aware or naive.
        self.when = when

    def instant(self, tz: tzinfo) -> datetime:
        """The UTC instant of ``when`` (naive: read in ``tz`` with the DST rule)."""
        if self.when.tzinfo is None or self.when.utcoffset() is None:
            return wall_to_utc(self.when.replace(tzinfo=None), tz)
        return self.when.astimezone(UTC)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        instant = self.instant(tz)
        return instant if instant > require_aware(after, "after") else None

    def latest_between(self, after: datetime, until: datetime, tz: tzinfo) -> datetime | None:
        instant = self.instant(tz)
        inside = require_aware(after, "after") < instant <= require_aware(until, "until")
        return instant if inside else None

    def to_spec(self) -> ScheduleSpec:
        return {"at": self.when.isoformat()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, at) and other.to_spec() == self.to_spec()

    def __hash__(self) -> int:
        return hash(("at", self.when.isoformat()))

    def __repr__(self) -> str:
        return f"<at: {self.when.isoformat()}>"


def from_spec(spec: Mapping[str, Any]) -> Schedule:
    """Build a schedule from ``{"cron": str}``, ``{"every": seconds}`` or ``{"at": iso}``.

    Raises:
        ValueError: naming the key when the spec is malformed.
    """
    if not isinstance(spec, Mapping) or len(spec) != 1:
        keys = sorted(map(str, spec)) if isinstance(spec, Mapping) else type(spec).__name__
        raise ValueError(f"schedule spec needs exactly one of 'cron', 'every', 'at'; got {keys}")
    ((key, value),) = spec.items()
    if key == "cron":
        if not isinstance(value, str):
            raise ValueError(f"schedule spec 'cron' must be a string, got {value!r}")
        return crontab.from_string(value)
    if key == "every":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"schedule spec 'every' must be a number of seconds, got {value!r}")
        return every(value)
    if key == "at":
        try:
            return at(datetime.fromisoformat(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"schedule spec 'at' must be an ISO 8601 datetime, got {value!r}"
            ) from exc
    raise ValueError(f"schedule spec has unknown key {key!r}; expected 'cron', 'every' or 'at'")


def schedule_from(value: object) -> Schedule:
    """Turn what users write in ``beat_schedule`` into a ``Schedule``.

    Accepts a ``Schedule`` (``crontab``, ``every``, ``schedule``, ``at``), a ``timedelta``
    or number of seconds (interval), a cron string, a ``datetime`` (one-off) or a spec dict.

    Raises:
        ValueError: for any other type, or an invalid value.
    """
    if isinstance(value, Schedule):
        return value
    if isinstance(value, timedelta) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        return every(value)
    if isinstance(value, str):
        return crontab.from_string(value)
    if isinstance(value, datetime):
        return at(value)
    if isinstance(value, Mapping):
        return from_spec(value)
    raise ValueError(
        "schedule must be a crontab, every/schedule, at, timedelta, seconds, cron string "
        f"or spec dict, got {type(value).__name__}"
    )
