"""Celery-style ``beat_schedule`` entries, checked and normalised into ``ScheduleEntry`` values.

Users paste their Celery ``beat_schedule`` here; a typo must fail at start-up with the
entry's name and the bad key, not be ignored until a run never happens. Pure: no I/O
(beyond the tz database, to check a ``timezone`` name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from celeriac.schedules.catchup import CATCH_UP_POLICIES, CatchUp
from celeriac.schedules.kind import Schedule, schedule_from
from celeriac.schedules.wallclock import get_timezone

#: What to do when a run is due while the previous one still runs (CronJob's names).
ConcurrencyPolicy = Literal["allow", "forbid", "replace"]

#: Every accepted ``concurrency_policy`` value (matched case-insensitively).
CONCURRENCY_POLICIES: tuple[ConcurrencyPolicy, ...] = ("allow", "forbid", "replace")

#: Keys an entry may have: Celery's own, then celeriac's additions.
ENTRY_KEYS: frozenset[str] = frozenset(
    {"task", "schedule", "args", "kwargs", "options", "relative"}
    | {"timezone", "enabled", "concurrency_policy", "starting_deadline_s", "catch_up"}
)


@dataclass(frozen=True)
class ScheduleEntry:
    """One periodic task, as the beat runs it.

    Attributes:
        name: the key in ``beat_schedule``.
        task: registered task name.
        schedule: when it runs.
        args: positional arguments.
        kwargs: keyword arguments.
        options: ``apply_async`` options (``queue``, ``priority``, ``expires``, ...).
        timezone: IANA zone the cron fields are read in; None = the app's ``timezone``.
        enabled: False keeps the entry without running it.
        concurrency_policy: ``'allow'``, ``'forbid'`` (skip while a run is unfinished) or
            ``'replace'`` (revoke the unfinished run, start the new one).
        starting_deadline_s: a run later than this is recorded as missed, not fired.
        catch_up: ``'once'``, ``'all'`` or ``'none'`` (see ``decide_fire``).
    """

    name: str
    task: str
    schedule: Schedule
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    enabled: bool = True
    concurrency_policy: ConcurrencyPolicy = "allow"
    starting_deadline_s: float | None = None
    catch_up: CatchUp = "once"

    def zone(self, default: str = "UTC") -> ZoneInfo:
        """The entry's zone, or ``default`` (the app's ``timezone``) when it has none."""
        return get_timezone(self.timezone or default)


def parse_entry(name: str, raw: Mapping[str, Any]) -> ScheduleEntry:
    """Check one ``beat_schedule`` entry and build its ``ScheduleEntry``.

    Args:
        name: the entry's key in ``beat_schedule``.
        raw: ``{'task': ..., 'schedule': ..., 'args': ..., 'kwargs': ..., 'options': ...}``
            plus the optional keys in ``ENTRY_KEYS``.

    Returns:
        The entry.

    Raises:
        ValueError: naming the entry and the key: unknown keys, missing ``task`` or
            ``schedule``, or a value of the wrong type.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"beat_schedule entry names must be non-empty strings, got {name!r}")
    where = f"beat_schedule entry {name!r}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in ENTRY_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(ENTRY_KEYS)}")
    for key in ("task", "schedule"):
        if key not in raw:
            raise ValueError(f"{where}: missing required key {key!r}")

    task = raw["task"]
    if not isinstance(task, str) or not task:
        raise ValueError(f"{where}: 'task' must be a non-empty task name, got {task!r}")
    try:
        schedule = schedule_from(raw["schedule"])
    except ValueError as exc:
        raise ValueError(f"{where}: bad 'schedule': {exc}") from exc
    if raw.get("relative"):
        raise ValueError(f"{where}: 'relative': True is not supported")

    args = raw.get("args", ())
    if args is None:
        args = ()
    if not isinstance(args, (list, tuple)):
        raise ValueError(f"{where}: 'args' must be a list or tuple, got {type(args).__name__}")
    kwargs = _str_dict(where, "kwargs", raw.get("kwargs"))
    options = _str_dict(where, "options", raw.get("options"))

    zone = raw.get("timezone")
    if zone is not None:
        try:
            get_timezone(zone)
        except ValueError as exc:
            raise ValueError(f"{where}: bad 'timezone': {exc}") from exc

    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"{where}: 'enabled' must be true or false, got {enabled!r}")

    policy = raw.get("concurrency_policy", "allow")
    if not isinstance(policy, str) or policy.lower() not in CONCURRENCY_POLICIES:
        raise ValueError(
            f"{where}: 'concurrency_policy' must be one of {CONCURRENCY_POLICIES}, got {policy!r}"
        )

    deadline = raw.get("starting_deadline_s")
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, (int, float))
        or not 0 <= deadline < math.inf
    ):
        raise ValueError(f"{where}: 'starting_deadline_s' must be seconds >= 0, got {deadline!r}")

    catch_up = raw.get("catch_up", "once")
    if catch_up not in CATCH_UP_POLICIES:
        raise ValueError(
            f"{where}: 'catch_up' must be one of {CATCH_UP_POLICIES}, got {catch_up!r}"
        )

    return ScheduleEntry(
        name=name,
        task=task,
        schedule=schedule,
        args=tuple(args),
        kwargs=kwargs,
        options=options,
        timezone=zone,
        enabled=enabled,
        concurrency_policy=cast(ConcurrencyPolicy, policy.lower()),
        starting_deadline_s=None if deadline is None else float(deadline),
        catch_up=cast(CatchUp, catch_up),
    )


def parse_beat_schedule(
    setting: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, ScheduleEntry]:
    """Parse a whole ``beat_schedule`` setting (None = no entries).

    Raises:
        ValueError: for the first malformed entry, naming it.
    """
    if setting is None:
        return {}
    if not isinstance(setting, Mapping):
        raise ValueError(f"beat_schedule must be a dict of entries, got {type(setting).__name__}")
    return {name: parse_entry(name, raw) for name, raw in setting.items()}


def _str_dict(where: str, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where}: {key!r} must be a dict with string keys, got {value!r}")
    return dict(value)
