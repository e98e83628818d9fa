"""The beat loop: while it holds the lease, fire each due registry entry, exactly once.

Why it exists: it joins the pure decisions (``celeriac.schedules.decide_fire``), the
registry (``app.schedules``), the lease and the fenced commit. Each tick reads the
registry, decides per entry, and writes each decision with one fenced compare-and-set
commit that also publishes the message, so a tick is fired at most once by all replicas
together, and (while some replica leads) at least once. It sleeps until the next due
entry, the next lease renewal or a registry change notice, whichever is first: no polling.
What it must not do: publish outside the fenced commit, or store a publish time as
``last_run`` (it stores the tick; see ``celeriac.schedules.catchup``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celeriac import health, signals, states
from celeriac.backends.base import Outgoing
from celeriac.beat import records
from celeriac.beat.lease import DEFAULT_RENEW_S, DEFAULT_TTL_S, Lease
from celeriac.beat.registry import build_message
from celeriac.errors import CeleriacError
from celeriac.health import Progress
from celeriac.schedules import decide_fire

if TYPE_CHECKING:
    from celeriac.app import Celeriac

logger = logging.getLogger(__name__)

#: Seconds a change-notice wait blocks before it looks at the stop flag again.
WATCH_BLOCK_S = 1.0

#: Commit outcomes of ``Backend.schedule_commit``.
_DONE, _CHANGED, _FENCED, _GONE, _PAUSED = 1, 0, -1, -2, -3


class _Fenced(Exception):
    """A commit was refused for a stale token: stop this tick, we no longer lead."""


class Beat:
    """One beat process (several may run; the lease picks the one that fires).

    Args:
        app: the app (its broker holds the registry and the lease).
        holder: lease holder id (default: host:pid:random).
        lease_ttl_s: lease time to live (a dead leader is replaced within about this plus
            ``renew_s``).
        renew_s: renewal (leader) and take-over attempt (follower) interval.
        max_loop_interval_s: longest sleep with nothing due (default ``beat_max_loop_interval``).
        sync_static: write ``app.conf.beat_schedule`` into the registry at start.
        clock: epoch seconds (tests pass a controllable clock).

    Attributes:
        fired: runs published by this process.
        missed: ticks this process recorded as missed (late, downtime, or ``forbid``).
        last_lag_s: publish time minus scheduled time of the latest fire.
    """

    def __init__(
        self,
        app: Celeriac,
        *,
        holder: str | None = None,
        lease_ttl_s: float = DEFAULT_TTL_S,
        renew_s: float = DEFAULT_RENEW_S,
        max_loop_interval_s: float | None = None,
        sync_static: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.lease = Lease(app.broker, holder=holder, ttl_s=lease_ttl_s, renew_s=renew_s)
        self.max_loop_interval_s = max_loop_interval_s or app.conf.beat_max_loop_interval
        self.sync_static = sync_static
        self.clock = clock
        self.fired = 0
        self.missed = 0
        self.last_lag_s: float | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._bad_specs: set[str] = set()
        self.progress = Progress()
        """What the health endpoints read (celeriac.health): loop ticks, lease calls."""

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until ``stop()`` (blocks). Syncs static entries, then loops."""
        if signals.beat_init.receivers:
            signals.beat_init.send(self)
        if self.sync_static:
            written, removed = self.app.schedules.sync_static(self.app.conf.beat_schedule)
            if written or removed:
                logger.info("beat_schedule synced: wrote %s, removed %s", written or "none", removed or "none")
        self._watcher = threading.Thread(target=self._watch, name="beat-watch", daemon=True)
        self._watcher.start()
        logger.info("beat %s started (lease ttl %.1fs)", self.lease.holder, self.lease.ttl_s)
        try:
            self._loop()
        finally:
            self._stopping.set()
            if self._watcher is not None:
                self._watcher.join(WATCH_BLOCK_S + 5)
            try:
                self.lease.release()
            except CeleriacError as exc:
                logger.warning("could not release the beat lease: %s", exc)
            logger.info("beat %s stopped (fired %d, missed %d)", self.lease.holder, self.fired, self.missed)

    def stop(self) -> None:
        """Ask the loop to end (thread- and signal-safe)."""
        self.progress.stopping = True
        self._stopping.set()
        self._wake.set()

    def _watch(self) -> None:
        cursor = ""
        while not self._stopping.is_set():
            try:
                new = self.app.broker.schedule_wait(cursor, WATCH_BLOCK_S)
            except CeleriacError as exc:
                logger.warning("beat cannot watch schedule changes: %s", exc)
                self._stopping.wait(1.0)
                continue
            if new != cursor:
                self._wake.set()
            cursor = new

    def _loop(self) -> None:
        next_due = 0.0
        renew_at = 0.0
        was_leader = False
        while not self._stopping.is_set():
            self.progress.tick = time.monotonic()
            if time.monotonic() >= renew_at:
                renew_at = time.monotonic() + self.lease.renew_s
                try:
                    leader = self.lease.refresh()
                    self.progress.broker_ok = time.monotonic()
                except CeleriacError as exc:
                    self.progress.broker_failed = time.monotonic()
                    logger.warning("beat lease check failed: %s", exc)
                    leader = self.lease.is_leader
                if leader and not was_leader:
                    next_due = 0.0  # a new leader looks at everything at once
                was_leader = leader
            changed = self._wake.is_set()
            if changed:  # cleared before the tick reads the registry: no notice is lost
                self._wake.clear()
            if self._stopping.is_set():
                break
            if self.lease.is_leader and (changed or self.clock() >= next_due):
                try:
                    next_due = self.tick()
                except _Fenced:
                    was_leader = False
                    next_due = 0.0
                except CeleriacError as exc:
                    logger.warning("beat tick failed: %s", exc)
                    next_due = self.clock() + 1.0
                except Exception:
                    logger.critical("beat tick crashed; carrying on", exc_info=True)
                    next_due = self.clock() + 1.0
            timeout = renew_at - time.monotonic()
            if self.lease.is_leader:
                timeout = min(timeout, next_due - self.clock())
            self._wake.wait(max(0.0, min(timeout, self.max_loop_interval_s)))

    # -- health (celeriac.health: no broker call) ----------------------------------------------

    def live(self) -> tuple[bool, str]:
        """The loop made progress lately (it wakes at least every lease renewal)."""
        return self.progress.live(max(health.STALE_S, 10 * self.lease.renew_s))

    def ready(self) -> tuple[bool, str]:
        """Leading, or standing by, with a working broker connection (the last lease call
        succeeded, within a few renewals)."""
        ok, reason = self.progress.ready(max(health.BROKER_STALE_S, 3 * self.lease.renew_s))
        if not ok:
            return ok, reason
        return True, "leading" if self.lease.is_leader else "standing by"

    # -- one pass over the registry -------------------------------------------------------------

    def tick(self) -> float:
        """Handle every entry once; returns the epoch seconds of the next due tick.

        Raises:
            _Fenced: this process no longer holds the lease.
        """
        now_s = self.clock()
        now = datetime.fromtimestamp(now_s, UTC)
        next_due = now_s + self.max_loop_interval_s
        for name, (spec, state) in self.app.broker.schedule_read(None).items():
            try:
                stored = records.stored_from(name, spec, state)
            except ValueError as exc:
                if name not in self._bad_specs:
                    logger.warning("schedule %r ignored: %s", name, exc)
                    self._bad_specs.add(name)
                continue
            self._bad_specs.discard(name)
            if not stored.entry.enabled:
                continue
            due = self._handle(stored, now)
            if due is not None:
                next_due = min(next_due, due)
        return next_due

    def _handle(self, stored: records.Stored, now: datetime) -> float | None:
        fence = self.lease.fence
        if fence is None:  # never commit unfenced from the beat
            raise _Fenced()
        entry, state = stored.entry, stored.state
        tz = entry.zone(self.app.conf.timezone or "UTC")
        key = records.schedule_key(entry)
        last_run = state.last_run if state.schedule_key == key else None
        decision = decide_fire(entry.schedule, last_run, now, tz, entry.starting_deadline_s, entry.catch_up)
        next_due = decision.next_due.timestamp() if decision.next_due is not None else None
        if (not decision.fire and not decision.missed and state.schedule_key == key
                and (decision.new_last_run is None or decision.new_last_run == state.last_run)
                and state.next_run == decision.next_due):
            return next_due  # nothing to write

        new = state.evolve(schedule_key=key, next_run=decision.next_due, updated_at=now,
                           token=self.lease.token or 0)
        if decision.new_last_run is not None:
            new = new.evolve(last_run=decision.new_last_run)
        missed: list[tuple[datetime, str]] = [
            (tick, "late" if entry.starting_deadline_s is not None else "catch-up") for tick in decision.missed
        ]
        publish: list[Outgoing] = []
        task_id: str | None = None
        revoke: str | None = None
        if decision.fire and decision.scheduled_for is not None:
            previous = self._unfinished(state.last_task_id) if entry.concurrency_policy != "allow" else None
            if previous is not None and entry.concurrency_policy == "forbid":
                missed.append((decision.scheduled_for, f"forbid: {state.last_task_id} is {previous}"))
                new = new.evolve(last_state=previous)
            else:
                if previous is not None:
                    revoke = state.last_task_id
                message, outgoing = build_message(self.app, entry, decision.scheduled_for)
                publish.append(outgoing)
                task_id = message.id
                new = new.evolve(last_task_id=task_id, last_state=states.PENDING, run_count=new.run_count + 1)
        new = new.evolve(missed_count=new.missed_count + len(missed))

        code = self.app.broker.schedule_commit(
            entry.name, fence=fence, expect_state=stored.raw_state,
            new_state=records.state_to_json(new), publish=publish, require_enabled=True,
        )
        if code == _FENCED:
            self.lease.lost()
            raise _Fenced()
        if code == _CHANGED:
            logger.debug("schedule %r changed while deciding; looking again", entry.name)
            return self.clock()
        if code in (_GONE, _PAUSED):
            return None
        self._report(entry.name, entry.task, decision.scheduled_for if task_id else None, task_id, missed)
        if revoke is not None:
            logger.info("schedule %r: revoking the previous run %s (replace)", entry.name, revoke)
            self.app.control.revoke(revoke)
        return next_due

    def _unfinished(self, task_id: str | None) -> str | None:
        """The state of the entry's previous task if it has not finished, else None."""
        if not task_id:
            return None
        record = self.app.backend.get_result(task_id)
        status = record.status if record is not None else states.PENDING
        if status in states.READY_STATES or status == states.IGNORED:
            return None
        return status

    def _report(self, name: str, task: str, scheduled_for: datetime | None, task_id: str | None,
                missed: list[tuple[datetime, str]]) -> None:
        events: list[dict[str, Any]] = []
        stamp = repr(time.time())
        for tick, reason in missed:
            self.missed += 1
            logger.warning("schedule %r: run for %s missed (%s)", name, records.iso(tick), reason)
            events.append({"type": "beat-missed", "schedule": name, "name": task,
                           "scheduled_for": records.iso(tick) or "", "reason": reason,
                           "hostname": self.lease.holder, "timestamp": stamp})
        if scheduled_for is not None and task_id is not None:
            self.fired += 1
            self.last_lag_s = self.clock() - scheduled_for.timestamp()
            logger.info("schedule %r: sent %s[%s] for %s (%.3fs after its time)", name, task, task_id,
                        records.iso(scheduled_for), self.last_lag_s)
            events.append({"type": "beat-fired", "schedule": name, "name": task, "uuid": task_id,
                           "scheduled_for": records.iso(scheduled_for) or "",
                           "hostname": self.lease.holder, "timestamp": stamp})
        if events and self.app.conf.worker_send_task_events:
            try:
                self.app.broker.emit(events)
            except CeleriacError as exc:
                logger.warning("could not emit beat events: %s", exc)
