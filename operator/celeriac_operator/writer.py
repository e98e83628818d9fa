"""Coalesced, rate-limited status patches and Kubernetes Events.

Why it exists: 1,000 Tasks created at once move through PENDING, STARTED and SUCCESS
within seconds; one patch per move would be thousands of requests in a burst. Here each
object has a *desired* status (the latest the operator knows) and a *written* one (what
the API server holds); a write sends the merge patch between the two, so moves that happen
while a write waits for its turn are folded into one patch. All writes share a token
bucket (``qps``/``burst``) and a cap on requests in flight, and status patches go before
Events, which are best effort (a bounded queue; the oldest are dropped when it is full).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celeriac_operator import metrics
from celeriac_operator.decide.status import status_patch
from celeriac_operator.kube import ApiError, Kube, NotFound, ObjectRef

logger = logging.getLogger(__name__)

#: Backoff before a failed status patch is tried again (seconds).
RETRY_DELAY_S = 1.0

#: Events waiting beyond this many, an object's not-yet-posted progress Events
#: (Enqueued, Started) are folded into its next one (a burst of short tasks then costs one
#: Event each, "Succeeded ... (enqueued, started)", instead of three).
FOLD_EVENTS_ABOVE = 50

_FOLDABLE = frozenset({"Enqueued", "Started"})


@dataclass
class _Entry:
    ref: ObjectRef
    written: dict[str, Any]
    desired: dict[str, Any]
    observed_at: float | None = None
    """When the oldest unwritten change was true (epoch s), for the status-lag histogram."""
    inflight: bool = False
    release: bool = False
    """Drop the entry once the desired status is written (a finished Task)."""


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float = field(default=0.0)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self.tokens) / self.rate)


class Writer:
    """The one path by which the operator writes status and Events."""

    def __init__(self, kube: Kube, *, qps: float = 100.0, burst: int = 200, concurrency: int = 8,
                 max_events: int = 10000) -> None:
        self.kube = kube
        self.bucket = TokenBucket(rate=qps, burst=float(burst))
        self.slots = asyncio.Semaphore(concurrency)
        self.entries: dict[tuple[str, str, str], _Entry] = {}
        self.dirty: collections.OrderedDict[tuple[str, str, str], None] = collections.OrderedDict()
        self.events: collections.deque[tuple[ObjectRef, str, str, str]] = collections.deque(maxlen=max_events)
        self.patches = 0
        self.wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- what callers use -----------------------------------------------------------------------

    def known(self, ref: ObjectRef) -> Mapping[str, Any] | None:
        """The desired status of a tracked object (None: not tracked)."""
        entry = self.entries.get(ref.key)
        return entry.desired if entry is not None else None

    def track(self, ref: ObjectRef, status: Mapping[str, Any]) -> None:
        """Start tracking an object whose stored status is ``status``."""
        if ref.key not in self.entries or self.entries[ref.key].ref.uid != ref.uid:
            self.entries[ref.key] = _Entry(ref=ref, written=dict(status), desired=dict(status))

    def set_status(self, ref: ObjectRef, desired: Mapping[str, Any], *, observed_at: float | None = None,
                   release: bool = False) -> None:
        """Make ``desired`` the status to write (folded with anything not yet written)."""
        entry = self.entries.get(ref.key)
        if entry is None or entry.ref.uid != ref.uid:
            entry = self.entries[ref.key] = _Entry(ref=ref, written={}, desired={})
        entry.desired = dict(desired)
        entry.release = entry.release or release
        if observed_at is not None and entry.observed_at is None:
            entry.observed_at = observed_at
        self._mark(ref.key)

    def post_event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        if len(self.events) > FOLD_EVENTS_ABOVE and reason not in _FOLDABLE:
            folded = [e for e in self.events if e[0].key == ref.key and e[2] in _FOLDABLE]
            if folded:
                for e in folded:
                    self.events.remove(e)
                message += " (" + ", ".join(e[2].lower() for e in folded) + ")"
        self.events.append((ref, type_, reason, message))
        self._idle.clear()
        self.wake.set()

    def forget(self, ref: ObjectRef) -> None:
        """The object is gone: write nothing more for it."""
        self.entries.pop(ref.key, None)
        self.dirty.pop(ref.key, None)

    async def drained(self, timeout: float) -> bool:
        """Wait until everything queued is written (tests, shutdown)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- the loop -------------------------------------------------------------------------------

    def _mark(self, key: tuple[str, str, str]) -> None:
        self.dirty[key] = None
        self._idle.clear()
        self.wake.set()

    async def run(self) -> None:
        """Write until cancelled."""
        while True:
            if not self.dirty and not self.events:
                if not self._tasks:
                    self._idle.set()
                self.wake.clear()
                await self.wake.wait()
                continue
            await self.slots.acquire()
            await self.bucket.take()
            job = self._next_job()
            if job is None:
                self.slots.release()
                continue
            task = asyncio.create_task(job)
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.slots.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("write failed: %s", task.exception())
        self.wake.set()

    def _next_job(self) -> Any:
        while self.dirty:
            key, _ = self.dirty.popitem(last=False)
            entry = self.entries.get(key)
            if entry is None:
                continue
            if entry.inflight:
                continue  # re-marked when the write in flight ends
            patch = status_patch(entry.written, entry.desired)
            if not patch:
                entry.observed_at = None
                if entry.release:
                    self.entries.pop(key, None)
                continue
            return self._write_status(entry, patch, dict(entry.desired))
        if self.events:
            ref, type_, reason, message = self.events.popleft()
            return self._write_event(ref, type_, reason, message)
        return None

    async def _write_status(self, entry: _Entry, patch: dict[str, Any], snapshot: dict[str, Any]) -> None:
        entry.inflight = True
        observed_at = entry.observed_at
        try:
            await self.kube.patch_status(entry.ref, patch)
        except NotFound:
            self.forget(entry.ref)
            return
        except Exception as exc:
            entry.inflight = False
            if isinstance(exc, ApiError) and exc.status in (400, 422):
                # The API server refuses this status: sending it again would loop forever.
                logger.error("status of %s/%s refused: %s", entry.ref.namespace, entry.ref.name, exc)
                entry.written = snapshot
                return
            # Transient: API unavailable, 5xx, a timeout.
            logger.warning("status patch of %s/%s failed (will retry): %s", entry.ref.namespace,
                           entry.ref.name, exc)
            await asyncio.sleep(RETRY_DELAY_S)
            self._mark(entry.ref.key)
            return
        finally:
            entry.inflight = False
        self.patches += 1
        entry.written = snapshot
        if observed_at is not None:
            metrics.STATUS_LAG.observe(max(0.0, time.time() - observed_at))
            entry.observed_at = None
        if entry.desired != snapshot:
            self._mark(entry.ref.key)
        elif entry.release and self.entries.get(entry.ref.key) is entry:
            self.entries.pop(entry.ref.key, None)

    async def _write_event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        try:
            await self.kube.post_event(ref, type_=type_, reason=reason, message=message)
        except Exception as exc:  # best effort, like every Event recorder
            logger.info("event %s on %s/%s not posted: %s", reason, ref.namespace, ref.name, exc)
