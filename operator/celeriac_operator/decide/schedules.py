"""A ``Schedule`` object as a beat registry entry, and the entry's state as its status.

Why it exists: the beat replicas fire schedules from the broker's registry (the JSON format
of ``docs/protocol.md``, "Schedule registry"); the operator only translates. The mapping of
every CRD field to a registry field, the ``every`` duration syntax, the status and
conditions, the names of the ``Task`` objects ``createTasks`` makes and which of them the
history limits delete: all decided here, purely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from celeriac_operator.decide.status import SUCCESS, TERMINAL_STATES, rfc3339

#: Label (and annotation) naming the Schedule a Task object was created for.
SCHEDULE_LABEL = "celeriac.dev/schedule"

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class InvalidScheduleSpec(ValueError):
    """The spec cannot be synced (the CRD schema should have refused it)."""


class EntryStateLike(Protocol):
    """The registry state of one entry (``app.schedules.get(name).state``), structurally."""

    @property
    def last_run(self) -> datetime | None: ...
    @property
    def next_run(self) -> datetime | None: ...
    @property
    def last_task_id(self) -> str | None: ...
    @property
    def last_state(self) -> str | None: ...
    @property
    def run_count(self) -> int: ...


def registry_name(namespace: str, name: str) -> str:
    """The registry entry of a Schedule: ``<namespace>/<name>`` (a name never has a ``/``)."""
    return f"{namespace}/{name}"


def parse_every(text: str) -> float:
    """``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"`` -> seconds.

    Raises:
        InvalidScheduleSpec: naming ``spec.every``.
    """
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text or total <= 0:
        raise InvalidScheduleSpec(f"spec.every: {text!r} is not a duration such as 30s, 5m, 1h30m")
    return total


def registry_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The registry spec record (``app.schedules.apply``) for a Schedule's ``spec``.

    Raises:
        InvalidScheduleSpec: naming the field.
    """
    task = spec.get("task")
    if not isinstance(task, str) or not task:
        raise InvalidScheduleSpec("spec.task is required")
    cron, every = spec.get("schedule"), spec.get("every")
    if (cron is None) == (every is None):
        raise InvalidScheduleSpec("exactly one of spec.schedule and spec.every must be set")
    schedule: dict[str, Any] = {"cron": str(cron).strip()} if cron is not None else {
        "every": parse_every(str(every))}
    options: dict[str, Any] = {}
    if spec.get("queue"):
        options["queue"] = str(spec["queue"])
    if spec.get("priority") is not None:
        options["priority"] = int(spec["priority"])
    if spec.get("expiresSeconds") is not None:
        options["expires"] = float(spec["expiresSeconds"])
    deadline = spec.get("startingDeadlineSeconds")
    return {
        "task": task,
        "args": list(spec.get("args") or []),
        "kwargs": dict(spec.get("kwargs") or {}),
        "options": options,
        "schedule": schedule,
        "timezone": str(spec.get("timeZone") or "UTC"),
        "enabled": not bool(spec.get("suspend")),
        "concurrency_policy": str(spec.get("concurrencyPolicy") or "Allow").lower(),
        "starting_deadline_s": float(deadline) if deadline is not None else None,
        "catch_up": str(spec.get("catchUp") or "Once").lower(),
    }


def schedule_status(
    current: Mapping[str, Any], state: EntryStateLike | None, *, live_state: str | None,
    last_finished_at: float | None = None, suspended: bool, synced: bool,
    sync_error: str | None, generation: int | None, now: float,
) -> dict[str, Any]:
    """The whole new ``status`` of a Schedule.

    Args:
        current: the status now.
        state: the registry entry's state (None: not read, keep what the status says).
        live_state: the state of the last run's task, read from the result store.
        last_finished_at: when that task finished (epoch s), for ``lastSuccessfulTime``.
        suspended: ``spec.suspend``.
        synced: the registry holds this generation's spec.
        sync_error: why it does not (the ``Synced`` condition's message).
        generation: ``metadata.generation``.
        now: epoch seconds.
    """
    status: dict[str, Any] = dict(current)
    if state is not None:
        if state.last_run is not None:
            status["lastScheduleTime"] = rfc3339(state.last_run.timestamp())
        if state.next_run is not None and not suspended:
            status["nextScheduleTime"] = rfc3339(state.next_run.timestamp())
        else:
            status.pop("nextScheduleTime", None)
        if state.last_task_id:
            status["lastTaskId"] = state.last_task_id
        status["runCount"] = int(state.run_count)
        last = live_state or state.last_state
        if last:
            status["lastState"] = last
    if live_state == SUCCESS and last_finished_at is not None:
        status["lastSuccessfulTime"] = rfc3339(last_finished_at)
    if synced and generation is not None:
        status["observedGeneration"] = generation
    wanted = [
        ("Synced", "True" if synced else "False", "Applied" if synced else "Invalid",
         "the beat registry holds this spec" if synced else (sync_error or "not synced")),
        ("Suspended", "True" if suspended else "False", "Suspended" if suspended else "Active",
         "spec.suspend is true: no runs" if suspended else "runs on schedule"),
    ]
    previous = {str(c.get("type")): c for c in current.get("conditions") or []}
    conds: list[dict[str, Any]] = []
    for ctype, cstatus, reason, message in wanted:
        old = previous.get(ctype)
        keep = old is not None and old.get("status") == cstatus and old.get("lastTransitionTime")
        cond: dict[str, Any] = {
            "type": ctype, "status": cstatus, "reason": reason, "message": message,
            "lastTransitionTime": str(old["lastTransitionTime"]) if keep and old else rfc3339(now),
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        conds.append(cond)
    status["conditions"] = conds
    return status


def run_task_name(schedule_name: str, tick: datetime | None, run_count: int) -> str:
    """The name of the Task object mirroring one run: ``<schedule>-<tick epoch s>``
    (``<schedule>-run<count>`` for a run-now with no tick), at most 253 characters."""
    suffix = str(int(tick.timestamp())) if tick is not None else f"run{run_count}"
    return f"{schedule_name[: 252 - len(suffix)]}-{suffix}"


@dataclass(frozen=True)
class RunTask:
    """A Task object a Schedule created: its name, state and creation time (epoch s)."""

    name: str
    state: str | None
    created: float


def history_to_delete(
    runs: Sequence[RunTask], *, successful_limit: int, failed_limit: int
) -> list[str]:
    """Names of finished run Tasks beyond the history limits (the oldest go first).

    Unfinished runs are never deleted; SUCCESS counts as successful, every other finished
    state (FAILURE, REVOKED, REJECTED) as failed, as a CronJob counts its Jobs.
    """
    ok = sorted((r for r in runs if r.state == SUCCESS), key=lambda r: r.created, reverse=True)
    bad = sorted((r for r in runs if r.state in TERMINAL_STATES and r.state != SUCCESS),
                 key=lambda r: r.created, reverse=True)
    return [r.name for r in ok[max(successful_limit, 0):]] + [r.name for r in bad[max(failed_limit, 0):]]


def run_task_body(
    schedule: Mapping[str, Any], *, task_id: str, name: str, api_version: str
) -> dict[str, Any]:
    """The Task object for one run of ``schedule`` (a body with metadata and spec), owned by
    the Schedule (garbage-collected with it) and annotated with the run's task id, so the
    operator follows it rather than enqueueing it again."""
    meta = schedule.get("metadata") or {}
    spec = schedule.get("spec") or {}
    task_spec: dict[str, Any] = {"task": spec.get("task"), "args": list(spec.get("args") or []),
                                 "kwargs": dict(spec.get("kwargs") or {})}
    for key in ("queue", "priority", "expiresSeconds"):
        if spec.get(key) is not None:
            task_spec[key] = spec[key]
    return {
        "apiVersion": api_version,
        "kind": "Task",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": {SCHEDULE_LABEL: str(meta.get("name"))},
            "annotations": {"celeriac.dev/task-id": task_id, SCHEDULE_LABEL: str(meta.get("name"))},
            "ownerReferences": [{
                "apiVersion": api_version, "kind": "Schedule", "name": meta.get("name"),
                "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": task_spec,
    }
