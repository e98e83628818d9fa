"""``app.schedules``: add, change, pause and remove periodic tasks at run time.

Why it exists: schedules live in the broker's registry (not in a beat's memory), so the
API, the CLI and the operator can change them while beats run; a running beat is woken by
the change notice and picks the change up without a restart. What it must not do: fire
ticks (only the leader beat does, fenced) or talk to Redis directly (only through the
``Backend`` ``schedule_*`` methods).
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celeriac.backends.base import Outgoing
from celeriac.beat import records
from celeriac.errors import CeleriacError
from celeriac.message import Message
from celeriac.result import AsyncResult
from celeriac.schedules import ScheduleEntry, parse_entry

if TYPE_CHECKING:
    from celeriac.app import Celeriac

logger = logging.getLogger(__name__)

#: Header naming the schedule entry a beat-published task came from.
SCHEDULE_HEADER = "beat_schedule"

#: Header with the tick (UTC ISO 8601) a beat-published run is for.
SCHEDULED_FOR_HEADER = "beat_scheduled_for"

_SETTABLE = frozenset({
    "task", "schedule", "args", "kwargs", "options", "timezone", "enabled",
    "concurrency_policy", "starting_deadline_s", "catch_up",
})


class ScheduleNotFound(CeleriacError, KeyError):
    """No schedule entry of that name in the registry."""

    def __str__(self) -> str:
        return f"no schedule named {self.args[0]!r}" if self.args else "no such schedule"


def build_message(
    app: Celeriac, entry: ScheduleEntry, scheduled_for: datetime | None = None
) -> tuple[Message, Outgoing]:
    """The message one run of ``entry`` publishes (routing and serializers apply).

    Its headers carry the entry name (``beat_schedule``) and, for a scheduled run, the
    tick it is for (``beat_scheduled_for``, UTC ISO 8601).
    """
    options: dict[str, Any] = dict(entry.options)
    headers = dict(options.pop("headers", None) or {})
    headers[SCHEDULE_HEADER] = entry.name
    if scheduled_for is not None:
        headers[SCHEDULED_FOR_HEADER] = records.iso(scheduled_for)
    options["headers"] = headers
    return app.prepare(entry.task, entry.args, entry.kwargs, options, task=app.tasks.get(entry.task))


class Schedules:
    """The schedule registry of an app (``app.schedules``)."""

    def __init__(self, app: Celeriac) -> None:
        self.app = app

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def add(
        self,
        name: str,
        task: str,
        schedule: Any,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        enabled: bool = True,
        concurrency_policy: str = "allow",
        starting_deadline_s: float | None = None,
        catch_up: str = "once",
        replace: bool = False,
        source: str = "api",
    ) -> records.Stored:
        """Add an entry (``schedule``: a crontab, every, at, seconds, timedelta or cron string).

        ``source`` is recorded in the spec (``api``; the operator passes ``operator``).

        Raises:
            ValueError: for a malformed entry, or an existing name without ``replace=True``.
        """
        raw: dict[str, Any] = {
            "task": task, "schedule": schedule, "args": tuple(args), "kwargs": dict(kwargs or {}),
            "options": dict(options or {}), "timezone": timezone, "enabled": enabled,
            "concurrency_policy": concurrency_policy, "starting_deadline_s": starting_deadline_s,
            "catch_up": catch_up,
        }
        entry = parse_entry(name, raw)
        if not replace and self.app.broker.schedule_read([name]):
            raise ValueError(f"schedule {name!r} already exists (use update(), or replace=True)")
        self.app.broker.schedule_put(name, records.entry_to_spec(entry, source=source, now=self._now()))
        return self.get(name)

    def update(self, name: str, **changes: Any) -> records.Stored:
        """Change fields of an entry (same names as ``add``); a beat picks it up at once.

        Raises:
            ScheduleNotFound: no such entry.
            ValueError: unknown field or bad value.
        """
        unknown = sorted(set(changes) - _SETTABLE)
        if unknown:
            raise ValueError(f"schedule {name!r}: unknown field(s) {unknown}; allowed: {sorted(_SETTABLE)}")
        current = self.get(name)
        entry = current.entry
        raw: dict[str, Any] = {
            "task": entry.task, "schedule": entry.schedule, "args": entry.args, "kwargs": entry.kwargs,
            "options": entry.options, "timezone": entry.timezone, "enabled": entry.enabled,
            "concurrency_policy": entry.concurrency_policy,
            "starting_deadline_s": entry.starting_deadline_s, "catch_up": entry.catch_up,
        }
        raw.update(changes)
        new = parse_entry(name, raw)
        self.app.broker.schedule_put(
            name,
            records.entry_to_spec(new, source=current.source, now=self._now(), config_digest=current.config_digest),
        )
        return self.get(name)

    def apply(self, name: str, spec: Mapping[str, Any], *, source: str = "operator") -> bool:
        """Create or replace ``name`` from a spec record (the JSON format of
        ``docs/protocol.md``), writing only if it differs from the stored one, so a
        reconcile loop (the operator's) does not wake the beats for nothing.

        Returns:
            True when the registry was written.

        Raises:
            ValueError: for a malformed spec, naming the entry and the field.
        """
        entry, _ = records.spec_to_entry(name, json.dumps(dict(spec), default=str))
        text = records.entry_to_spec(entry, source=source, now=self._now())
        current = self.app.broker.schedule_read([name]).get(name)
        if current is not None and _same_spec(current[0], text):
            return False
        self.app.broker.schedule_put(name, text)
        return True

    def remove(self, name: str) -> bool:
        """Remove an entry and its state; False when it did not exist."""
        return self.app.broker.schedule_delete(name)

    def pause(self, name: str) -> records.Stored:
        """Stop firing ``name`` (kept, with its state); ``resume`` starts it again."""
        return self.update(name, enabled=False)

    def resume(self, name: str) -> records.Stored:
        """Fire ``name`` again. Ticks that passed while paused follow the entry's catch-up
        policy (``catch_up='once'``: one run at once; ``'none'`` or a deadline skip them)."""
        return self.update(name, enabled=True)

    def get(self, name: str) -> records.Stored:
        """One entry with its state.

        Raises:
            ScheduleNotFound: no such entry.
        """
        rows = self.app.broker.schedule_read([name])
        if name not in rows:
            raise ScheduleNotFound(name)
        spec, state = rows[name]
        return records.stored_from(name, spec, state)

    def list(self) -> list[records.Stored]:
        """Every entry, by name (malformed specs are logged and left out)."""
        out: list[records.Stored] = []
        for name, (spec, state) in self.app.broker.schedule_read(None).items():
            try:
                out.append(records.stored_from(name, spec, state))
            except ValueError as exc:
                logger.warning("skipping malformed schedule %r: %s", name, exc)
        return out

    def last_state(self, stored: records.Stored) -> str | None:
        """The live state of the entry's last task (read from the result store)."""
        task_id = stored.state.last_task_id
        if not task_id:
            return None
        record = self.app.backend.get_result(task_id)
        return record.status if record is not None else "PENDING"

    def run_now(self, name: str) -> AsyncResult:
        """Publish one run of ``name`` now (even if paused), outside its schedule.

        The run is recorded as the entry's last task (``forbid``/``replace`` see it) but
        does not move ``last_run``: the schedule's own ticks are unchanged.
        """
        for _ in range(20):
            stored = self.get(name)
            message, outgoing = build_message(self.app, stored.entry)
            state = stored.state.evolve(
                last_task_id=message.id, last_state="PENDING", run_count=stored.state.run_count + 1,
                updated_at=self._now(),
            )
            code = self.app.broker.schedule_commit(
                name, fence=None, expect_state=stored.raw_state, new_state=records.state_to_json(state),
                publish=[outgoing], require_enabled=False,
            )
            if code == 1:
                logger.info("schedule %r run now: task %s[%s]", name, stored.entry.task, message.id)
                return AsyncResult(message.id, app=self.app, task_name=stored.entry.task)
            if code == -2:
                raise ScheduleNotFound(name)
        raise CeleriacError(f"schedule {name!r}: state kept changing, run-now not published")

    def sync_static(self, beat_schedule: Mapping[str, Mapping[str, Any]] | None) -> tuple[builtins.list[str], builtins.list[str]]:
        """Write ``beat_schedule`` entries into the registry (done at beat start).

        An entry is (re)written only when its configuration changed since the last sync
        (a digest is kept in the spec), so a pause or update made through the API
        survives beat restarts until the entry's config itself changes. Entries synced
        from config earlier (``source: static``) that are no longer configured are removed.

        Returns:
            (names written, names removed).
        """
        wanted = dict(beat_schedule or {})
        entries = {name: parse_entry(name, raw) for name, raw in wanted.items()}
        existing = self.app.broker.schedule_read(None)
        written: builtins.list[str] = []
        for name, entry in entries.items():
            digest = records.config_digest(wanted[name])
            current = existing.get(name)
            if current is not None:
                try:
                    stored = records.stored_from(name, *current)
                except ValueError:
                    stored = None
                if stored is not None and stored.source == "static" and stored.config_digest == digest:
                    continue
            spec = records.entry_to_spec(entry, source="static", now=self._now(), config_digest=digest)
            self.app.broker.schedule_put(name, spec)
            written.append(name)
        removed: builtins.list[str] = []
        for name, (spec, state) in existing.items():
            if name in entries:
                continue
            try:
                stored = records.stored_from(name, spec, state)
            except ValueError:
                continue
            if stored.source == "static":
                self.app.broker.schedule_delete(name)
                removed.append(name)
        return written, removed


def _same_spec(a: str, b: str) -> bool:
    """Two spec JSON texts say the same thing (``updated_at`` aside)."""
    try:
        one, two = json.loads(a), json.loads(b)
    except json.JSONDecodeError:
        return False
    if not isinstance(one, dict) or not isinstance(two, dict):
        return False
    one.pop("updated_at", None)
    two.pop("updated_at", None)
    return bool(one == two)
