"""Schedule objects: kept in the beat's registry, with the registry's state as status.

Why it exists: this is the Schedule controller behind the thin kopf handlers. The beat
replicas do the firing (exactly once per tick, fenced by their lease); the operator only
writes the registry entry (``app.schedules.apply``, a no-op when unchanged), removes it
when the object goes, and copies the entry's state (last and next run, run count, the last
run's live state) into ``status``. With ``createTasks`` it also creates a Task object per
run it sees, annotated with the run's task id so the Task controller follows it and never
enqueues it again, and deletes old ones beyond the history limits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from celeriac_operator.decide import schedules as decide_schedules
from celeriac_operator.decide.status import TERMINAL_STATES, epoch_of
from celeriac_operator.kube import API_VERSION, Conflict, Kube, NotFound, ObjectRef
from celeriac_operator.queue import Runtime
from celeriac_operator.writer import Writer

logger = logging.getLogger(__name__)


class ScheduleSync:
    """Syncs Schedule objects to the registry and their state back to status."""

    def __init__(self, runtime: Runtime, kube: Kube, writer: Writer) -> None:
        self.runtime = runtime
        self.kube = kube
        self.writer = writer
        self._seen_runs: dict[tuple[str, str], str] = {}
        """Last run task id a Task object was created for, per (namespace, name)."""

    @staticmethod
    def entry_name(body: Mapping[str, Any]) -> str:
        meta = body.get("metadata") or {}
        return decide_schedules.registry_name(str(meta.get("namespace")), str(meta.get("name")))

    async def sync(self, body: Mapping[str, Any]) -> None:
        """Write the registry entry for this spec (create, update, resume).

        Raises:
            decide_schedules.InvalidScheduleSpec: naming the field (after setting
                ``Synced=False`` with that message).
        """
        ref = ObjectRef.from_body(body, plural="schedules")
        spec = body.get("spec") or {}
        self.writer.track(ref, body.get("status") or {})
        try:
            entry = decide_schedules.registry_spec(spec)
            await self.runtime.apply_schedule(self.entry_name(body), entry)
        except ValueError as exc:  # InvalidScheduleSpec, or the registry's own check
            self._set_status(body, None, live_state=None, synced=False, error=str(exc))
            raise decide_schedules.InvalidScheduleSpec(str(exc)) from exc
        await self.refresh(body, synced=True)

    async def removed(self, body: Mapping[str, Any]) -> None:
        await self.runtime.remove_schedule(self.entry_name(body))
        meta = body.get("metadata") or {}
        self._seen_runs.pop((str(meta.get("namespace")), str(meta.get("name"))), None)
        self.writer.forget(ObjectRef.from_body(body, plural="schedules"))

    async def refresh(self, body: Mapping[str, Any], *, synced: bool = True) -> None:
        """Copy the registry state into status (a timer calls it every second or so)."""
        ref = ObjectRef.from_body(body, plural="schedules")
        self.writer.track(ref, body.get("status") or {})
        stored = await self.runtime.get_schedule(self.entry_name(body))
        if stored is None:
            # The registry lost it (a flushed broker): write it again.
            entry = decide_schedules.registry_spec(body.get("spec") or {})
            await self.runtime.apply_schedule(self.entry_name(body), entry)
            stored = await self.runtime.get_schedule(self.entry_name(body))
            if stored is None:
                return
        state = stored.state
        live_state, finished_at = None, None
        if state.last_task_id:
            infos = await self.runtime.lookup_tasks([state.last_task_id])
            info = infos.get(state.last_task_id)
            if info is not None and info.presence in ("queued", "recorded"):
                live_state = "PENDING" if info.presence == "queued" else info.state
                finished_at = info.finished_at
        self._set_status(body, state, live_state=live_state, synced=synced, error=None,
                         finished_at=finished_at)
        spec = body.get("spec") or {}
        if spec.get("createTasks") and state.last_task_id:
            await self._mirror_run(body, state)
            await self._prune(body)

    def _set_status(self, body: Mapping[str, Any], state: Any, *, live_state: str | None, synced: bool,
                    error: str | None, finished_at: float | None = None) -> None:
        ref = ObjectRef.from_body(body, plural="schedules")
        meta = body.get("metadata") or {}
        current = self.writer.known(ref) or body.get("status") or {}
        new = decide_schedules.schedule_status(
            current, state, live_state=live_state, last_finished_at=finished_at,
            suspended=bool((body.get("spec") or {}).get("suspend")), synced=synced, sync_error=error,
            generation=meta.get("generation"), now=time.time())
        self.writer.set_status(ref, new)

    async def _mirror_run(self, body: Mapping[str, Any], state: Any) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if self._seen_runs.get(key) == state.last_task_id:
            return
        name = decide_schedules.run_task_name(str(meta.get("name")), state.last_run, state.run_count)
        task = decide_schedules.run_task_body(body, task_id=state.last_task_id, name=name,
                                              api_version=API_VERSION)
        with contextlib.suppress(Conflict):  # created before this restart
            await self.kube.create("tasks", key[0], task)
        self._seen_runs[key] = state.last_task_id

    async def _prune(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        namespace = str(meta.get("namespace"))
        items = await self.kube.list("tasks", namespace,
                                     label_selector=f"{decide_schedules.SCHEDULE_LABEL}={meta.get('name')}")
        runs = []
        for item in items:
            item_meta = item.get("metadata") or {}
            owners = item_meta.get("ownerReferences") or []
            if not any(o.get("uid") == meta.get("uid") for o in owners):
                continue
            state = (item.get("status") or {}).get("state")
            created = str(item_meta.get("creationTimestamp") or "")
            runs.append(decide_schedules.RunTask(
                name=str(item_meta.get("name")), state=state if state in TERMINAL_STATES else None,
                created=epoch_of(created) or 0.0))
        for name in decide_schedules.history_to_delete(
                runs, successful_limit=int(spec.get("successfulTasksHistoryLimit", 3)),
                failed_limit=int(spec.get("failedTasksHistoryLimit", 1))):
            uid = next((str((i.get("metadata") or {}).get("uid")) for i in items
                        if (i.get("metadata") or {}).get("name") == name), "")
            with contextlib.suppress(NotFound):
                await self.kube.delete(ObjectRef(plural="tasks", kind="Task", namespace=namespace,
                                                 name=name, uid=uid))

