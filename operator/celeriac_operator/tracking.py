"""Task objects: enqueue once, then mirror the task's life into ``status``.

Why it exists: this is the Task controller behind the thin kopf handlers. It keeps, in
memory, which task id belongs to which object; ONE reader follows the runtime's events
stream for the whole operator (never a poll per object); a terminal event triggers a batch
``lookup_tasks`` (one round trip for many ids) for the details an event does not carry
(the JSON result, the traceback); a slow batch resync catches whatever the stream missed
(a trimmed stream, custom states, an operator restart). Status is written only through the
``Writer``, which coalesces and rate-limits. Nothing here talks to Redis or builds API
requests itself.

The events cursor is recomputed rather than stored: at start-up the reader begins at the
stream's current end, and every unfinished Task is then looked up in the result store (the
truth), so nothing that happened while no operator ran is lost, and no write is spent on
saving a cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celeriac_operator import metrics
from celeriac_operator.decide import enqueue as decide_enqueue
from celeriac_operator.decide import status as decide_status
from celeriac_operator.kube import Kube, NotFound, ObjectRef
from celeriac_operator.queue import Runtime
from celeriac_operator.settings import OperatorConfig
from celeriac_operator.writer import Writer

logger = logging.getLogger(__name__)

#: Ids per ``lookup_tasks`` call.
LOOKUP_CHUNK = 500

#: The started probe also looks waiting Tasks up while there are at most this many.
STARTED_LOOKUP_MAX = 100


@dataclass
class _Tracked:
    ref: ObjectRef
    task_id: str
    generation: int | None
    state: str | None
    at: float | None
    ttl_s: int | None
    lookups: int = 0


class TaskTracker:
    """Owns every unfinished Task object the operator follows."""

    def __init__(self, runtime: Runtime, kube: Kube, writer: Writer, config: OperatorConfig) -> None:
        self.runtime = runtime
        self.kube = kube
        self.writer = writer
        self.config = config
        self.by_id: dict[str, _Tracked] = {}
        self._lookup: set[str] = set()
        self._lookup_wake = asyncio.Event()
        self._ttl: list[tuple[float, str, ObjectRef]] = []
        self._ttl_wake = asyncio.Event()
        self.cursor = "0"
        self.event_listeners: list[Callable[[Mapping[str, Any]], None]] = []
        """Also given every event (the WorkerPool controller wakes pools at zero on them)."""

    # -- called by the kopf handlers ------------------------------------------------------------

    async def created(self, body: Mapping[str, Any]) -> None:
        """A new Task object: enqueue it once (or follow the task it mirrors)."""
        meta = body.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        status = dict(body.get("status") or {})
        mirrored = decide_enqueue.mirrored_task_id(annotations)
        try:
            request = None if mirrored else decide_enqueue.enqueue_request(body.get("spec") or {}, meta)
        except decide_enqueue.InvalidTaskSpec as exc:
            ref = ObjectRef.from_body(body, plural="tasks")
            self.writer.track(ref, status)
            self.writer.set_status(ref, {**status, "observedGeneration": meta.get("generation"), "conditions": [{
                "type": "Enqueued", "status": "False", "reason": "InvalidSpec", "message": str(exc),
                "lastTransitionTime": decide_status.rfc3339(time.time())}]})
            self.writer.post_event(ref, "Warning", "InvalidSpec", str(exc))
            raise
        task_id = mirrored or (request.task_id if request else "")
        tracked = self._track(body, task_id, status)
        if tracked is None:
            return
        if request is None:
            self._want_lookup(task_id)
            return
        enqueued = await self.runtime.enqueue_once(request)
        created = decide_status.epoch_of(meta.get("creationTimestamp"))
        if created is not None:
            metrics.ENQUEUE_LATENCY.observe(max(0.0, time.time() - created))
        if enqueued:
            now = time.time()
            self._apply(tracked, decide_status.Observation(
                state=decide_status.PENDING, at=now, source="enqueue",
                queue=request.options.get("queue"), enqueued_at=now))
            self.writer.post_event(tracked.ref, "Normal", "Enqueued",
                                   f"enqueued {request.name} as task {task_id}")
        else:
            # Enqueued before (an operator restart between enqueue and bookkeeping): the
            # result store knows where it is.
            self._want_lookup(task_id)

    async def resumed(self, body: Mapping[str, Any]) -> None:
        """An existing Task at operator start-up: resync it, or schedule its TTL."""
        status = dict(body.get("status") or {})
        task_id = _task_id_of(body)
        state = status.get("state")
        if state in decide_status.TERMINAL_STATES:
            ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
            finished = decide_status.epoch_of(status.get("finishedAt"))
            if ttl is not None:
                ref = ObjectRef.from_body(body, plural="tasks")
                self._schedule_ttl(ref, (finished or time.time()) + float(ttl))
            return
        if state is None and not status.get("taskId"):
            # Handled by kopf (diffbase stored) but never enqueued by us? Enqueue-once
            # makes a second attempt harmless.
            await self.created(body)
            return
        if self._track(body, task_id, status) is not None:
            self._want_lookup(task_id)

    async def deleted(self, body: Mapping[str, Any]) -> None:
        """An unfinished Task is being deleted: revoke its task (terminate if annotated)."""
        meta = body.get("metadata") or {}
        status = body.get("status") or {}
        ref = ObjectRef.from_body(body, plural="tasks")
        task_id = _task_id_of(body)
        tracked = self.by_id.pop(task_id, None)
        known = tracked.state if tracked is not None else status.get("state")
        self.writer.forget(ref)
        if known in decide_status.TERMINAL_STATES:
            return
        terminate = decide_enqueue.terminate_on_delete(meta.get("annotations") or {})
        await self.runtime.revoke([task_id], terminate=terminate)
        self.writer.post_event(ref, "Normal", "Revoked",
                               f"task {task_id} revoked on delete" + (" (terminated)" if terminate else ""))

    # -- what the runtime says ------------------------------------------------------------------

    def on_event(self, event: Mapping[str, Any]) -> None:
        task_id = event.get("uuid")
        if not isinstance(task_id, str):
            return
        tracked = self.by_id.get(task_id)
        if tracked is None:
            return
        if event.get("type") in decide_status.TERMINAL_EVENTS:
            self._want_lookup(task_id)  # the result, the error: the result store has them
            return
        obs = decide_status.observation_from_event(event)
        if obs is not None:
            self._apply(tracked, obs)

    def on_running(self, running: Mapping[str, str]) -> None:
        """Tasks running now, by id, with their worker's hostname (``live_workers``)."""
        now = time.time()
        for task_id, worker in running.items():
            tracked = self.by_id.get(task_id)
            if tracked is not None and decide_status.rank(tracked.state) < 1:
                self._apply(tracked, decide_status.Observation(
                    state=decide_status.STARTED, at=now, source="workers", worker=worker,
                    started_at=now))

    def on_info(self, info: decide_status.TaskInfoLike) -> None:
        tracked = self.by_id.get(info.task_id)
        if tracked is None:
            return
        obs = decide_status.observation_from_info(info, now=time.time())
        if obs is not None:
            self._apply(tracked, obs)

    def _apply(self, tracked: _Tracked, obs: decide_status.Observation) -> None:
        if not decide_status.accepts(tracked.state, tracked.at, obs):
            return
        current = self.writer.known(tracked.ref) or {}
        new = decide_status.task_status(current, obs, task_id=tracked.task_id,
                                        generation=tracked.generation, now=time.time())
        old_state = tracked.state
        tracked.state, tracked.at = obs.state, obs.at
        finished = obs.state in decide_status.TERMINAL_STATES
        self.writer.set_status(tracked.ref, new, observed_at=obs.at if obs.source != "lookup" else None,
                               release=finished)
        for type_, reason, message in decide_status.transition_events(old_state, new):
            self.writer.post_event(tracked.ref, type_, reason, message)
        if finished:
            self.by_id.pop(tracked.task_id, None)
            if tracked.ttl_s is not None:
                finished_at = decide_status.epoch_of(new.get("finishedAt")) or time.time()
                self._schedule_ttl(tracked.ref, finished_at + tracked.ttl_s)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _track(self, body: Mapping[str, Any], task_id: str, status: Mapping[str, Any]) -> _Tracked | None:
        meta = body.get("metadata") or {}
        ref = ObjectRef.from_body(body, plural="tasks")
        state = status.get("state")
        if state in decide_status.TERMINAL_STATES:
            return None
        self.writer.track(ref, status)
        ttl = (body.get("spec") or {}).get("ttlSecondsAfterFinished")
        tracked = self.by_id.get(task_id)
        if tracked is None or tracked.ref.uid != ref.uid:
            known = self.writer.known(ref) or {}
            tracked = _Tracked(ref=ref, task_id=task_id, generation=meta.get("generation"),
                               state=known.get("state") or state, at=None,
                               ttl_s=int(ttl) if ttl is not None else None)
            self.by_id[task_id] = tracked
        return tracked

    def _want_lookup(self, task_id: str) -> None:
        self._lookup.add(task_id)
        self._lookup_wake.set()

    def _schedule_ttl(self, ref: ObjectRef, deadline: float) -> None:
        heapq.heappush(self._ttl, (deadline, ref.uid, ref))
        self._ttl_wake.set()

    # -- loops (started by the operator's start-up handler) -------------------------------------

    async def start_cursor(self) -> None:
        """Begin the events stream at its end (see the module docstring)."""
        self.cursor = await self.runtime.last_event_id()

    async def run_events(self) -> None:
        """The one events reader of the operator."""
        while True:
            try:
                batch = await self.runtime.read_events(self.cursor, count=self.config.events_batch,
                                                       block_s=self.config.events_block_s)
            except Exception as exc:  # broker blip: keep the cursor, try again
                logger.warning("reading events failed (retrying): %s", exc)
                await asyncio.sleep(1.0)
                continue
            for event_id, event in batch:
                self.cursor = event_id
                self.on_event(event)
                for listener in self.event_listeners:
                    listener(event)

    async def run_lookups(self) -> None:
        """Batch ``lookup_tasks`` for every id that asked for one."""
        while True:
            await self._lookup_wake.wait()
            self._lookup_wake.clear()
            await asyncio.sleep(self.config.lookup_batch_s)
            ids = [i for i in self._lookup if i in self.by_id]
            self._lookup.clear()
            await self._lookup_ids(ids)

    async def _lookup_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            try:
                infos = await self.runtime.lookup_tasks(chunk)
            except Exception as exc:
                logger.warning("lookup_tasks failed (retrying): %s", exc)
                await asyncio.sleep(1.0)
                self._lookup.update(chunk)
                self._lookup_wake.set()
                return
            for info in infos.values():
                self.on_info(info)

    async def run_resync(self) -> None:
        """Every ``resync_s``, look up every unfinished Task (what the stream may have missed)."""
        while True:
            await asyncio.sleep(self.config.resync_s)
            await self._lookup_ids(list(self.by_id))

    async def run_started_probe(self) -> None:
        """While Tasks wait to start, ask what runs now, so STARTED shows within a fraction
        of a second instead of at a worker heartbeat: ``live_workers()`` (one call for all
        Tasks; its running sets are current to about 0.1 s) and, for at most
        ``STARTED_LOOKUP_MAX`` waiting Tasks, one ``lookup_tasks`` (a worker with
        ``task_track_started`` records STARTED the moment a task starts). Every
        ``progress_s`` the running Tasks are looked up too (custom states such as PROGRESS
        are recorded in the result store; no event carries them)."""
        if self.config.started_probe_s <= 0:
            return
        last_progress = time.monotonic()
        while True:
            await asyncio.sleep(self.config.started_probe_s)
            waiting = [i for i, t in self.by_id.items() if decide_status.rank(t.state) < 1]
            ids = waiting if len(waiting) <= STARTED_LOOKUP_MAX else []
            if self.config.progress_s > 0 and time.monotonic() - last_progress >= self.config.progress_s:
                last_progress = time.monotonic()
                running_ids = [i for i, t in self.by_id.items() if decide_status.rank(t.state) == 1]
                ids = ids + running_ids[:LOOKUP_CHUNK]
            if not waiting and not ids:
                continue
            try:
                workers = await self.runtime.live_workers() if waiting else []
                infos = await self.runtime.lookup_tasks(ids) if ids else {}
            except Exception as exc:
                logger.debug("started probe failed: %s", exc)
                continue
            running: dict[str, str] = {}
            for worker in workers:
                for task_id in worker.running:
                    running[str(task_id)] = str(worker.hostname)
            self.on_running(running)
            for info in infos.values():
                if info.presence == "recorded":
                    self.on_info(info)

    async def run_ttl(self) -> None:
        """Delete finished Tasks ``ttlSecondsAfterFinished`` after they finished."""
        while True:
            if not self._ttl:
                self._ttl_wake.clear()
                await self._ttl_wake.wait()
                continue
            deadline, _, ref = self._ttl[0]
            delay = deadline - time.time()
            if delay > 0:
                self._ttl_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ttl_wake.wait(), delay)
                continue
            heapq.heappop(self._ttl)
            try:
                await self.kube.delete(ref)
                logger.info("deleted %s/%s (ttlSecondsAfterFinished)", ref.namespace, ref.name)
            except NotFound:
                pass
            except Exception as exc:
                logger.warning("ttl delete of %s/%s failed (retrying): %s", ref.namespace, ref.name, exc)
                self._schedule_ttl(ref, time.time() + 5.0)


def _task_id_of(body: Mapping[str, Any]) -> str:
    """The task id of a stored Task object: what its status says, else the task it mirrors
    (annotation), else the one derived from its uid."""
    meta = body.get("metadata") or {}
    return str((body.get("status") or {}).get("taskId")
               or decide_enqueue.mirrored_task_id(meta.get("annotations") or {})
               or decide_enqueue.task_id_for(str(meta.get("uid") or "")))
