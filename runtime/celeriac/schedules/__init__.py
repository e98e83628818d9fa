"""When periodic tasks run: the beat's pure scheduling logic (re-exports only).

Why it exists: the beat loop, the lease and the Redis registry are I/O; deciding *when*
an entry is due, which runs were missed and whether to fire one now is not, so it lives
here, where it is tested with explicit instants. What it must not do: read the clock
(every function takes ``now``), sleep, log, or touch Redis, files or the network.

Schedules (``kind``): ``crontab`` (Celery's arguments, or ``crontab.from_string('*/5 * * *
*')``; ``day_of_month`` AND ``day_of_week`` as in Celery), ``every`` / ``schedule`` (an
elapsed-time interval) and ``at`` (one-off). ``schedule_from`` accepts what users write in
``beat_schedule``. Each has ``next_after(after, tz)``, ``latest_between(after, until, tz)``,
``latest_ticks(after, until, tz, limit)`` and ``to_spec()``; ``from_spec`` reverses it. The spec is a JSON object with exactly one
key: ``{"cron": "*/5 * * * *"}``, ``{"every": 30.0}`` (seconds) or
``{"at": "2026-01-01T00:00:00+00:00"}`` (ISO 8601; without an offset, read in the entry's
timezone). The entry's timezone is kept beside the spec, not in it.

Time zones and daylight saving (``wallclock``). Cron fields are wall-clock times in the
entry's zone; intervals are elapsed time and ignore zones. All instants returned are aware
UTC datetimes. Rule: a wall-clock time is neither skipped nor doubled.

- Spring forward: a time that does not exist fires ONCE, at the first instant after the
  gap. ``'30 2 * * *'`` in Europe/Berlin fires at 03:00 CEST on 2026-03-29. Ticks inside
  the gap collapse into that instant, together with a tick at it: ``'*/15 * * * *'`` runs
  01:45, 03:00 (for 02:00-03:00), 03:15; ``'0 * * * *'`` runs 01:00, 03:00, 04:00.
- Fall back: a time that occurs twice fires ONCE, at its first occurrence. ``'30 2 * * *'``
  fires at 02:30 CEST on 2026-10-25, not at 02:30 CET. In the repeated hour, ``'*/15 * * *
  *'`` fires for the first pass only (02:00-02:45 CEST), then at 03:00 CET, leaving 75 real
  minutes without a run; ``'0 * * * *'`` fires 02:00 CEST, then 03:00 CET. Use ``every``
  for a run every N minutes of elapsed time.

Catch-up (``catchup``): ``due_runs`` lists the ticks in ``(last_run, now]``;
``decide_fire`` applies the policy (``'once'`` by default: one run for a whole missed
window; ``starting_deadline_s``; ``'all'``; ``'none'``) and returns a ``FireDecision``
whose ``new_last_run`` the beat stores (``last_run`` is a tick, never a publish time). ``parse_entry`` (``entry``) checks
Celery-style ``beat_schedule`` entries.
"""

from __future__ import annotations

from celeriac.schedules.catchup import (
    CATCH_UP_POLICIES,
    DEFAULT_ON_TIME_GRACE_S,
    MAX_MISSED_REPORTED,
    CatchUp,
    FireDecision,
    decide_fire,
    due_runs,
)
from celeriac.schedules.entry import (
    CONCURRENCY_POLICIES,
    ConcurrencyPolicy,
    ScheduleEntry,
    parse_beat_schedule,
    parse_entry,
)
from celeriac.schedules.kind import (
    Schedule,
    ScheduleSpec,
    at,
    crontab,
    every,
    from_spec,
    schedule,
    schedule_from,
)
from celeriac.schedules.wallclock import get_timezone, wall_to_utc

__all__ = [
    "CATCH_UP_POLICIES",
    "CONCURRENCY_POLICIES",
    "DEFAULT_ON_TIME_GRACE_S",
    "MAX_MISSED_REPORTED",
    "CatchUp",
    "ConcurrencyPolicy",
    "FireDecision",
    "Schedule",
    "ScheduleEntry",
    "ScheduleSpec",
    "at",
    "crontab",
    "decide_fire",
    "due_runs",
    "every",
    "from_spec",
    "get_timezone",
    "parse_beat_schedule",
    "parse_entry",
    "schedule",
    "schedule_from",
    "wall_to_utc",
]
