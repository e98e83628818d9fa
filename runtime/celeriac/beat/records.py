"""The schedule registry's record format: spec and state JSON, to and from Python values.

Why it exists: the registry is read and written by the API, the CLI, every beat replica
and (later) the Kubernetes operator, possibly in other languages; the one definition of
its JSON lives here and in ``docs/protocol.md`` ("Schedule registry"). Pure: no I/O, no
clock (``now`` is passed in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from celeriac.schedules import ScheduleEntry, parse_entry

#: Who wrote a spec: ``app.schedules``/CLI, ``beat_schedule`` (synced at beat start), operator.
Source = Literal["api", "static", "operator"]


class SpecRecord(TypedDict, total=False):
    """The spec JSON of one entry (hash ``celeriac:schedules``, field = name)."""

    name: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    schedule: dict[str, Any]
    timezone: str | None
    enabled: bool
    concurrency_policy: str
    starting_deadline_s: float | None
    catch_up: str
    source: str
    config_digest: str | None
    updated_at: str


class StateRecord(TypedDict, total=False):
    """The state JSON of one entry (hash ``celeriac:schedules:state``, field = name)."""

    last_run: str | None
    next_run: str | None
    last_task_id: str | None
    last_state: str | None
    run_count: int
    missed_count: int
    schedule_key: str
    updated_at: str
    token: int


@dataclass(frozen=True)
class EntryState:
    """An entry's state, parsed (instants are aware UTC)."""

    last_run: datetime | None = None
    next_run: datetime | None = None
    last_task_id: str | None = None
    last_state: str | None = None
    run_count: int = 0
    missed_count: int = 0
    schedule_key: str = ""
    updated_at: datetime | None = None
    token: int = 0

    def evolve(self, **changes: Any) -> EntryState:
        return replace(self, **changes)


@dataclass(frozen=True)
class Stored:
    """One registry entry as read: the parsed entry, its state, and the raw JSON read
    (``raw_state`` is what a compare-and-set commit must find unchanged)."""

    entry: ScheduleEntry
    state: EntryState
    source: str = "api"
    config_digest: str | None = None
    updated_at: str | None = None
    raw_state: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def iso(instant: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds and ``Z``: fixed width, so it also sorts as text."""
    if instant is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def schedule_key(entry: ScheduleEntry) -> str:
    """What a state's ``last_run`` was computed for: a changed schedule re-anchors."""
    return json.dumps({"schedule": entry.schedule.to_spec(), "timezone": entry.timezone}, sort_keys=True)


def entry_to_spec(entry: ScheduleEntry, *, source: str, now: datetime, config_digest: str | None = None) -> str:
    """The spec JSON of ``entry``.

    Raises:
        ValueError: when args, kwargs or options are not JSON-serializable.
    """
    record: SpecRecord = {
        "name": entry.name,
        "task": entry.task,
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "options": _json_options(entry.name, entry.options),
        "schedule": dict(entry.schedule.to_spec()),
        "timezone": entry.timezone,
        "enabled": entry.enabled,
        "concurrency_policy": entry.concurrency_policy,
        "starting_deadline_s": entry.starting_deadline_s,
        "catch_up": entry.catch_up,
        "source": source,
        "updated_at": iso(now) or "",
    }
    if config_digest is not None:
        record["config_digest"] = config_digest
    try:
        return json.dumps(record, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"schedule {entry.name!r}: args/kwargs must be JSON-serializable: {exc}") from exc


def spec_to_entry(name: str, text: str) -> tuple[ScheduleEntry, dict[str, Any]]:
    """Parse a spec JSON (``suspend: true`` is accepted as ``enabled: false``).

    Returns the entry and the raw record (for ``source``, ``config_digest``...).

    Raises:
        ValueError: naming the entry, for malformed JSON or fields.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"schedule {name!r}: spec is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"schedule {name!r}: spec must be a JSON object")
    enabled = raw.get("enabled", True)
    if raw.get("suspend") is True:
        enabled = False
    fields: dict[str, Any] = {
        "task": raw.get("task"),
        "schedule": raw.get("schedule"),
        "args": raw.get("args") or [],
        "kwargs": raw.get("kwargs") or {},
        "options": raw.get("options") or {},
        "timezone": raw.get("timezone"),
        "enabled": enabled,
        "concurrency_policy": raw.get("concurrency_policy") or "allow",
        "starting_deadline_s": raw.get("starting_deadline_s"),
        "catch_up": raw.get("catch_up") or "once",
    }
    return parse_entry(name, fields), raw


def state_from_json(text: str | None) -> EntryState:
    """Parse a state JSON (None or malformed: a fresh state)."""
    if not text:
        return EntryState()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return EntryState()
    if not isinstance(raw, dict):
        return EntryState()
    return EntryState(
        last_run=parse_iso(raw.get("last_run")),
        next_run=parse_iso(raw.get("next_run")),
        last_task_id=raw.get("last_task_id"),
        last_state=raw.get("last_state"),
        run_count=int(raw.get("run_count") or 0),
        missed_count=int(raw.get("missed_count") or 0),
        schedule_key=str(raw.get("schedule_key") or ""),
        updated_at=parse_iso(raw.get("updated_at")),
        token=int(raw.get("token") or 0),
    )


def state_to_json(state: EntryState) -> str:
    record: StateRecord = {
        "last_run": iso(state.last_run),
        "next_run": iso(state.next_run),
        "last_task_id": state.last_task_id,
        "last_state": state.last_state,
        "run_count": state.run_count,
        "missed_count": state.missed_count,
        "schedule_key": state.schedule_key,
        "updated_at": iso(state.updated_at) or "",
        "token": state.token,
    }
    return json.dumps(record, sort_keys=True)


def stored_from(name: str, spec: str, state: str | None) -> Stored:
    """Parse one registry row (raises ValueError for a malformed spec)."""
    entry, raw = spec_to_entry(name, spec)
    return Stored(
        entry=entry,
        state=state_from_json(state),
        source=str(raw.get("source") or "api"),
        config_digest=raw.get("config_digest"),
        updated_at=raw.get("updated_at"),
        raw_state=state,
    )


def config_digest(raw: Mapping[str, Any]) -> str:
    """A digest of one ``beat_schedule`` entry as configured (to see if config changed)."""
    entry = parse_entry("x", raw)
    text = json.dumps(
        {
            "task": entry.task, "args": list(entry.args), "kwargs": entry.kwargs,
            "options": _json_options("x", entry.options), "schedule": entry.schedule.to_spec(),
            "timezone": entry.timezone, "enabled": entry.enabled,
            "concurrency_policy": entry.concurrency_policy,
            "starting_deadline_s": entry.starting_deadline_s, "catch_up": entry.catch_up,
        },
        sort_keys=True, default=repr,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if hasattr(value, "total_seconds"):  # a timedelta expires/countdown
            value = value.total_seconds()
        elif isinstance(value, datetime):
            raise ValueError(f"schedule {name!r}: option {key!r} must be relative seconds, not a datetime")
        out[key] = value
    return out
