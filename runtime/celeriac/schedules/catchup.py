"""Which runs are owed, and whether to fire now: the beat's catch-up policy as pure functions.

The beat stores, per entry, ``last_run``: the scheduled time of the tick it last handled
(fired or recorded as missed), never the wall time it published. Given that and ``now``,
``decide_fire`` says whether to fire, for which tick, which ticks to record as missed, what
to store as the new ``last_run`` and when to look again. A restart therefore neither fires
twice (a handled tick is never owed again) nor skips silently (skipped ticks are reported).

Policies (``catch_up``):

- ``'once'`` (default): after downtime, ONE run for the whole missed window, for its latest
  tick; the earlier ticks are reported as missed.
- ``'all'``: every missed tick runs, oldest first, one per call (``next_due <= now`` then
  means "call again at once").
- ``'none'``: missed ticks never run; the latest tick fires only while it is on time
  (within ``on_time_grace_s``).

``starting_deadline_s`` (Kubernetes CronJob's ``startingDeadlineSeconds``): a tick older
than ``now - starting_deadline_s`` is not fired late but reported as missed.

A brand-new entry (``last_run is None``) owes nothing: its first run is the first tick
after ``now`` (Celery's behaviour), and the caller stores ``new_last_run`` (= ``now``) as
its anchor. The exception is a one-off ``at`` whose time has already passed: it fires once
if within the deadline, or is reported missed.

Pure: ``now`` is always an argument; nothing reads the clock or does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from celeriac.schedules.kind import Schedule, at
from celeriac.schedules.wallclock import require_aware

#: How missed runs are handled; see the module docstring.
CatchUp = Literal["once", "all", "none"]

#: Every accepted ``catch_up`` value.
CATCH_UP_POLICIES: tuple[CatchUp, ...] = ("once", "all", "none")

#: With ``catch_up='none'``, how late (seconds) a tick may still fire as "on time".
DEFAULT_ON_TIME_GRACE_S = 10.0

#: At most this many missed ticks (the most recent) are listed in a ``FireDecision``.
MAX_MISSED_REPORTED = 100

_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class FireDecision:
    """What the beat should do for one entry now.

    Attributes:
        fire: publish one run now.
        scheduled_for: the tick that run is for (its ``last_run`` once published).
        missed: ticks skipped, oldest first, to record as missed (the latest
            ``MAX_MISSED_REPORTED`` at most; see ``missed_truncated``).
        next_due: when to decide again (None: never, a spent one-off). With
            ``catch_up='all'`` it may be ``<= now``: more ticks are owed.
        new_last_run: what to store as the entry's ``last_run`` (None: leave it).
        missed_truncated: older missed ticks exist beyond those listed.
    """

    fire: bool
    scheduled_for: datetime | None
    missed: list[datetime] = field(default_factory=list)
    next_due: datetime | None = None
    new_last_run: datetime | None = None
    missed_truncated: bool = False


def due_runs(
    schedule: Schedule,
    last_run: datetime | None,
    now: datetime,
    tz: tzinfo,
    *,
    limit: int | None = None,
) -> list[datetime]:
    """The fire times in ``(last_run, now]``, oldest first, in UTC.

    Args:
        schedule: the entry's schedule.
        last_run: the last handled tick; None for a new entry, which owes nothing (except
            an ``at`` whose time is ``<= now``).
        now: the current instant.
        tz: the entry's timezone (cron fields are read in it).
        limit: keep only the latest ``limit`` ticks. Without it every tick is listed, which
            for a minutely cron after a month of downtime is 43,200 of them.

    Returns:
        The ticks, ascending.
    """
    now_utc = require_aware(now, "now")
    if limit is not None and limit <= 0:
        return []
    if last_run is None:
        if isinstance(schedule, at):
            instant = schedule.instant(tz)
            return [instant] if instant <= now_utc else []
        return []
    last = require_aware(last_run, "last_run")
    runs: list[datetime] = []
    if limit is None:
        tick = schedule.next_after(last, tz)
        while tick is not None and tick <= now_utc:
            runs.append(tick)
            tick = schedule.next_after(tick, tz)
        return runs
    return schedule.latest_ticks(last, now_utc, tz, limit)


def decide_fire(
    schedule: Schedule,
    last_run: datetime | None,
    now: datetime,
    tz: tzinfo,
    starting_deadline_s: float | None = None,
    catch_up: CatchUp = "once",
    *,
    on_time_grace_s: float = DEFAULT_ON_TIME_GRACE_S,
    max_missed: int = MAX_MISSED_REPORTED,
) -> FireDecision:
    """Decide whether an entry fires now; see the module docstring for the policies.

    Args:
        schedule: the entry's schedule.
        last_run: the last handled tick (``FireDecision.new_last_run`` of the previous
            call), or None for an entry never seen before.
        now: the current instant (aware).
        tz: the entry's timezone.
        starting_deadline_s: a tick older than this many seconds is missed, not fired.
        catch_up: ``'once'``, ``'all'`` or ``'none'``.
        on_time_grace_s: with ``'none'``, the lateness still counted as on time.
        max_missed: how many missed ticks to list at most.

    Returns:
        The decision.

    Raises:
        ValueError: for a naive datetime, a negative deadline or an unknown policy.
    """
    now_utc = require_aware(now, "now")
    if catch_up not in CATCH_UP_POLICIES:
        raise ValueError(f"catch_up must be one of {CATCH_UP_POLICIES}, got {catch_up!r}")
    deadline = _seconds("starting_deadline_s", starting_deadline_s)
    limit = deadline
    if catch_up == "none":
        grace = _seconds("on_time_grace_s", on_time_grace_s)
        limit = grace if deadline is None or grace is None else min(deadline, grace)

    if last_run is None:
        if not isinstance(schedule, at):
            return FireDecision(False, None, [], schedule.next_after(now_utc, tz), now_utc)
        instant = schedule.instant(tz)
        if instant > now_utc:
            return FireDecision(False, None, [], instant, now_utc)
        if limit is None or now_utc - instant <= limit:
            return FireDecision(True, instant, [], None, instant)
        return FireDecision(False, None, [instant], None, instant)

    last = require_aware(last_run, "last_run")
    latest = schedule.latest_between(last, now_utc, tz)
    if latest is None:  # nothing owed yet (also when last_run is ahead of a skewed clock)
        return FireDecision(False, None, [], schedule.next_after(last, tz), None)

    if catch_up == "all":
        missed: list[datetime] = []
        truncated = False
        overdue = None
        if deadline is not None:
            cutoff = now_utc - deadline
            missed, truncated = _missed(schedule, last, cutoff - _ONE_US, tz, max_missed)
            if latest < cutoff:
                return FireDecision(
                    False, None, missed, schedule.next_after(latest, tz), latest, truncated
                )
            overdue = schedule.latest_between(last, cutoff - _ONE_US, tz)
        tick = schedule.next_after(overdue or last, tz)
        if tick is None:  # pragma: no cover - latest exists, so an earlier-or-equal tick does
            raise RuntimeError(f"{schedule!r}: no tick in ({last}, {latest}]")
        return FireDecision(True, tick, missed, schedule.next_after(tick, tz), tick, truncated)

    on_time = limit is None or now_utc - latest <= limit
    until = latest - _ONE_US if on_time else latest
    missed, truncated = _missed(schedule, last, until, tz, max_missed)
    return FireDecision(
        on_time,
        latest if on_time else None,
        missed,
        schedule.next_after(latest, tz),
        latest,
        truncated,
    )


def _missed(
    schedule: Schedule, last: datetime, until: datetime, tz: tzinfo, max_missed: int
) -> tuple[list[datetime], bool]:
    if max_missed < 0:
        raise ValueError(f"max_missed must be >= 0, got {max_missed}")
    runs = due_runs(schedule, last, until, tz, limit=max_missed + 1)
    if len(runs) > max_missed:
        return runs[len(runs) - max_missed :], True
    return runs, False


def _seconds(name: str, value: float | None) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return timedelta(seconds=value)
