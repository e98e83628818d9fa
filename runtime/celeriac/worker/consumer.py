"""The fetch loop of one worker process, with its committer and heartbeat threads.

The consumer fetches batches (bounded by the pool's free capacity), hands them to the
pool, and queues the pool's settlements for the committer thread, which writes them in
groups (one round trip for everything finished since its last write). The heartbeat
thread refreshes the leases of every message this process holds, so a long task is never
handed to another worker, and hands back the messages of workers that died.

Nothing here knows about Redis: it speaks the :class:`~celeriac.backends.base.Backend` API.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from celeriac import states
from celeriac.backends.base import ControlSubscription, Delivery, RunningSnapshot, Settlement
from celeriac.errors import AuthenticationFailed, BrokerError, ConnectionLost, TimeLimitExceeded
from celeriac.health import Progress, SharedProgress
from celeriac.worker import remote
from celeriac.worker.execute import Executor, Job, Outcome
from celeriac.worker.limits import Interrupter, Watched
from celeriac.worker.monitor import Monitor

if TYPE_CHECKING:
    from celeriac.app import Celeriac

logger = logging.getLogger(__name__)

FETCH_BLOCK_S = 0.5  #: longest blocking fetch, so a stop request is seen within half a second
MAX_PREFETCH = 128  #: most messages one process holds, however short its tasks are
BACKOFF_MAX_S = 5.0  #: longest pause between reconnect attempts
EXIT_HARD_LIMIT = 75  #: exit code of a prefork child stopped by a task's hard time limit
RUNNING_DEBOUNCE_S = 0.1  #: a start with nothing to settle is written alone after this long
RUNNING_TTL_HEARTBEATS = 3  #: a running snapshot outlives this many missed heartbeats


class Pool(Protocol):
    """Runs deliveries; reports each settlement through ``consumer.complete``."""

    capacity: int
    """Deliveries it accepts at once (running and queued)."""
    concurrency: int
    """Tasks it runs at once."""

    def start(self, consumer: Consumer) -> None: ...

    def submit(self, delivery: Delivery) -> None: ...

    def take_unstarted(self) -> list[Delivery]:
        """Stop starting deliveries; return those accepted but not started (to hand back)."""
        ...

    def resize(self, delta: int) -> int:
        """Run ``delta`` more (or fewer) tasks at once; returns the new size. Raises
        NotImplementedError, naming the pool, when it cannot be resized at run time."""
        ...

    def shutdown(self, timeout_s: float) -> tuple[list[Delivery], list[Delivery]]:
        """Stop; returns (never started, still running after ``timeout_s``)."""
        ...


def consumer_name(hostname: str) -> str:
    """A consumer name unique to this process and start (pids are reused across restarts)."""
    return f"{hostname}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


class Consumer:
    """Fetch, dispatch, settle, heartbeat: the loop of one worker process."""

    def __init__(self, app: Celeriac, queues: Sequence[str], pool: Pool, *, hostname: str,
                 name: str | None = None) -> None:
        self.app = app
        self.queues = list(queues)
        self.pool = pool
        self.hostname = hostname
        self.name = name or consumer_name(hostname)
        self.backend = app.broker
        self.results = app.backend
        self.results_inline = app.results_with_broker
        conf = app.conf
        self.executor = Executor(app, hostname=hostname)
        self.lease_s = conf.worker_lease_timeout
        self.heartbeat_s = min(conf.worker_heartbeat_interval, self.lease_s / 3)
        self.max_deliveries = conf.task_max_deliveries
        self.shutdown_timeout_s = conf.worker_shutdown_timeout
        self.prefetch_window_s = conf.worker_prefetch_window
        self.stopping = threading.Event()
        self.inflight: dict[str, Delivery] = {}
        self._load = 0  # deliveries handed to the pool and not finished
        self._lock = threading.Lock()
        self._slot = threading.Condition(self._lock)
        self._outbox: list[Settlement] = []
        self._outbox_cond = threading.Condition()
        self._committer_stop = False
        self._finished = threading.Event()
        self._threads: list[threading.Thread] = []
        self.on_heartbeat: list[Callable[[Consumer], None]] = []
        self.on_settled: list[Callable[[Sequence[Settlement]], None]] = []
        self.started_at = time.time()
        self._inline = False
        self._loop_thread = 0
        self.hurry = threading.Event()
        """Set by a second SIGTERM/SIGINT: stop waiting for running tasks."""
        self._backlog: collections.deque[Delivery] = collections.deque()
        self.max_tasks: int | None = None
        """Stop after this many tasks (a prefork child's ``worker_max_tasks_per_child``)."""
        self.max_memory_kib: int | None = None
        """Stop once the RSS exceeds this (a prefork child's ``worker_max_memory_per_child``)."""
        self.exit_on_hard_limit = False
        """A prefork child: a hard time limit records FAILURE and exits the process."""
        self._done = 0
        self._giveback: threading.Thread | None = None
        self.interrupter = Interrupter(on_hard=self._on_hard_limit)
        self.executor.interrupter = self.interrupter
        self.control = conf.worker_control_enabled
        self.control_handlers: dict[str, Callable[[Consumer, dict[str, Any]], Any]] = {
            **remote.COMMANDS, "revoke": _control_revoke,
        }
        """Commands of the control channel (``celeriac:control:{db}`` on Redis) this process obeys (extend freely;
        see ``celeriac.worker.remote.control_command``)."""
        self.running: dict[str, Job] = {}
        """Jobs running now, by message id (``inspect active``, task-started events)."""
        self.pool_name = {"ThreadPool": "threads", "AsyncioPool": "asyncio", "GeventPool": "gevent",
                          "EventletPool": "eventlet"}.get(type(pool).__name__, "solo")
        self.concurrency = pool.concurrency
        """The worker's pool size (set by ``Worker``: a prefork child reports the worker's)."""
        self.prefork_child = False
        self.metrics_dir: str | None = None
        """A prefork child: the supervisor's multiprocess metrics directory (it serves them)."""
        self._run_seq = 0
        self._run_written: tuple[str, ...] | None = None  # task ids of the last snapshot written
        self._run_lock = threading.Lock()
        self._run_due = 0.0  # monotonic time a standalone snapshot is due (0: none pending)
        self.progress = Progress()
        """What the health endpoints read (celeriac.health): loop ticks, broker calls."""
        self.health_slot: tuple[SharedProgress, int] | None = None
        """A prefork child: where it copies ``progress`` for the supervisor's probes."""
        self.monitor = Monitor(self)

    # -- called by pools -----------------------------------------------------------------------

    def job_started(self, job: Job) -> None:
        """Before a job runs: early ack and STARTED, when asked for."""
        self.running[job.delivery.message_id] = job
        if not self._run_due:
            # Readers of live_workers() see the start within about RUNNING_DEBOUNCE_S: with the
            # next settlement written, or alone if nothing is settled by then (a long task).
            # A plain store: the committer looks at it at least every RUNNING_DEBOUNCE_S, so a
            # start costs no wake-up.
            self._run_due = time.monotonic() + RUNNING_DEBOUNCE_S
        if not self.executor.acks_late(job):
            self._queue([Settlement(job.delivery)], release=False)
        if self.executor.track_started(job):
            try:
                self.results.store_result(self.executor.started_record(job))
            except BrokerError as exc:
                logger.warning("could not record STARTED for %s: %s", job.message.id, exc)

    def complete(self, settlement: Settlement) -> None:
        """A delivery is done: queue its settlement and free its pool slot.

        A lone delivery finished in the fetch loop's own thread (an idle solo consumer) is
        written right here: handing it to the committer thread would only add a wake-up.
        """
        if settlement.delivery is not None:
            self.running.pop(settlement.delivery.message_id, None)
            if settlement.requeue:  # Reject(requeue=True): the same message goes back, counted
                self._give_back([settlement.delivery], count_delivery=True, what="rejected by the task")
                settlement = Settlement(None, events=settlement.events, stats=settlement.stats)
        if self.max_tasks is not None or self.max_memory_kib is not None:
            self._check_child_limits()
        if self._inline and threading.get_ident() == self._loop_thread and not self._outbox:
            self._write([settlement])
            with self._slot:
                if settlement.delivery is not None:
                    self.inflight.pop(settlement.delivery.message_id, None)
                self._load -= 1
            for hook in self.on_settled:
                hook([settlement])
            return
        self._queue([settlement], release=True)

    def _check_child_limits(self) -> None:
        self._done += 1
        if self.max_tasks is not None and self._done >= self.max_tasks and not self.stopping.is_set():
            logger.info("%d task(s) done (worker_max_tasks_per_child): this child exits", self._done)
            self.stop()
        elif self.max_memory_kib is not None and not self.stopping.is_set():
            rss = rss_kib()
            if rss is not None and rss > self.max_memory_kib:
                logger.warning("RSS %d KiB above worker_max_memory_per_child (%d KiB): this child exits",
                               rss, self.max_memory_kib)
                self.stop()

    def _on_hard_limit(self, w: Watched) -> bool:
        """A hard time limit passed. A prefork child records FAILURE, writes everything it
        has and exits (the supervisor replaces it); elsewhere the task is interrupted."""
        job = w.payload
        if not self.exit_on_hard_limit or not isinstance(job, Job):
            return False
        _soft, hard = self.executor.limits(job)
        exc = TimeLimitExceeded(f"task exceeded its hard time limit ({hard}s); its process was stopped")
        settlement = self.executor.finish(job, Outcome(states.FAILURE, exc=exc, traceback=None))
        with self._outbox_cond:
            batch, self._outbox = self._outbox, []
        try:
            self._write([*batch, settlement])
        finally:
            logging.shutdown()
            os._exit(EXIT_HARD_LIMIT)

    def _queue(self, settlements: list[Settlement], *, release: bool) -> None:
        with self._outbox_cond:
            self._outbox.extend(settlements)
            self._outbox_cond.notify()
        if release:
            with self._slot:
                self._load -= len(settlements)
                self._slot.notify()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until :meth:`stop`; then hand back what is left and return."""
        self.monitor.start()
        self._start_thread(self._commit_loop, "committer")
        self._start_thread(self._heartbeat_loop, "heartbeat")
        if self.control:
            self.executor.watch_all = True
            self._start_thread(self._control_loop, "control")
        self.interrupter.install_main_handler()
        self.pool.start(self)
        unsubmitted: list[Delivery] = []
        backoff = 0.1
        self._loop_thread = threading.get_ident()
        progress = self.progress
        try:
            while not self.stopping.is_set():
                progress.tick = time.monotonic()
                if self.health_slot is not None:
                    self.health_slot[0].write(self.health_slot[1], progress)
                with self._slot:
                    free = self._fetch_limit() - self._load
                    if free <= 0:
                        self._slot.wait(0.5)
                        continue
                try:
                    batch = self.backend.fetch(self.queues, self.name, free, FETCH_BLOCK_S)
                    backoff = 0.1
                    progress.broker_ok = time.monotonic()
                except BrokerError as exc:
                    progress.broker_failed = time.monotonic()
                    if isinstance(exc, AuthenticationFailed):
                        logger.error("broker authentication failed (%s); retrying in %.1fs", exc, backoff)
                    elif isinstance(exc, ConnectionLost):
                        logger.warning("broker unreachable (%s); retrying in %.1fs", exc, backoff)
                    else:
                        logger.error("fetch failed (%s); retrying in %.1fs", exc, backoff)
                    self.stopping.wait(backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
                    continue
                if not batch:
                    continue
                with self._slot:
                    for d in batch:
                        self.inflight[d.message_id] = d
                    self._load += len(batch)
                    self._backlog.extend(batch)
                self._inline = len(batch) == 1
                while True:
                    # The backlog is shared with stop(), which hands back what is left at
                    # once (a solo consumer is still running a task when it is told to stop).
                    with self._slot:
                        if not self._backlog or self.stopping.is_set():
                            break
                        d = self._backlog.popleft()
                    progress.busy = True  # a solo pool runs the task right here
                    self.pool.submit(d)
                    progress.busy = False
        finally:
            with self._slot:
                unsubmitted.extend(self._backlog)
                self._load -= len(self._backlog)
                self._backlog.clear()
            self._shutdown(unsubmitted)

    def _fetch_limit(self) -> int:
        """How many messages this process may hold now.

        At least the pool's capacity (``worker_prefetch_multiplier`` per slot); more when
        tasks are short, so that what is held is about ``worker_prefetch_window`` seconds
        of work. Short tasks then come in large batches (few round trips), while long
        tasks are never hoarded away from idle workers.
        """
        floor = self.pool.capacity
        avg = self.executor.avg_runtime_s
        if avg is None or self.prefetch_window_s <= 0:
            return floor
        slots = self.pool.concurrency
        by_time = int(self.prefetch_window_s * slots / max(avg, 1e-6))
        return max(floor, min(MAX_PREFETCH, by_time))

    def stop(self) -> None:
        """Stop fetching; the loop hands back what it holds and returns.

        Safe to call from a signal handler: messages fetched but not yet handed to the
        pool go back to the queue at once from a helper thread, even while this thread
        is still busy running a task.
        """
        self.progress.stopping = True
        if not self.stopping.is_set() and self._giveback is None:
            # Started before ``stopping`` is set, so that the loop's shutdown always finds
            # (and waits for) it.
            giveback = threading.Thread(target=self._return_backlog, name="celeriac-giveback", daemon=True)
            giveback.start()
            self._giveback = giveback
        self.stopping.set()

    def bound_drain(self) -> None:
        """After a stop: if the task running in the loop's own thread (solo) is still
        running when the grace period ends (or a second signal comes), write what is
        finished, hand the running task back for redelivery, and exit the process."""
        deadline = time.monotonic() + self.shutdown_timeout_s
        while not self._finished.wait(0.1):
            if self.hurry.is_set() or time.monotonic() >= deadline:
                with self._outbox_cond:
                    batch, self._outbox = self._outbox, []
                if batch:
                    self._write(batch)
                held = [job.delivery for job in list(self.running.values())]
                self._give_back(held, count_delivery=True, what="still running at the end of the grace period")
                logging.shutdown()
                os._exit(0)

    def _return_backlog(self) -> None:
        with self._slot:
            back = list(self._backlog)
            self._backlog.clear()
            self._load -= len(back)
            self._slot.notify_all()
        self._give_back(back, count_delivery=False, what="prefetched")

    def _shutdown(self, unsubmitted: list[Delivery]) -> None:
        # hand back what the pool queued but never started, before waiting
        self._give_back([*unsubmitted, *self.pool.take_unstarted()], count_delivery=False, what="prefetched")
        unsubmitted = []
        unstarted, running = self.pool.shutdown(0.0 if self.hurry.is_set() else self.shutdown_timeout_s)
        self.interrupter.stop()
        giveback = self._giveback
        if giveback is not None and giveback.ident is not None:
            giveback.join(timeout=10)
        give_back = unsubmitted + unstarted
        self._give_back(give_back, count_delivery=False, what="prefetched")
        self._give_back(running, count_delivery=True, what="still running at the end of the grace period")
        with self._outbox_cond:
            self._committer_stop = True
            self._outbox_cond.notify()
        self._threads[0].join(timeout=30)  # the committer: every settlement written
        self._finished.set()
        for t in self._threads:
            t.join(timeout=10)
        self.monitor.stopped()

    def _give_back(self, deliveries: list[Delivery], *, count_delivery: bool, what: str) -> None:
        if not deliveries:
            return
        for attempt in range(5):
            try:
                self.backend.requeue(deliveries, count_delivery=count_delivery)
                break
            except BrokerError as exc:
                logger.warning("could not hand back %d message(s) (%s), attempt %d", len(deliveries), exc, attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        else:
            logger.error("%d message(s) stay pending and will be reclaimed after the lease times out",
                         len(deliveries))
        logger.info("handed back %d message(s) %s", len(deliveries), what)
        with self._lock:
            for d in deliveries:
                self.inflight.pop(d.message_id, None)

    # -- committer ---------------------------------------------------------------------------

    def _commit_loop(self) -> None:
        while True:
            with self._outbox_cond:
                while not self._outbox and not self._committer_stop:
                    due = self._run_due
                    left = due - time.monotonic() if due else RUNNING_DEBOUNCE_S
                    if left <= 0:
                        break  # a task started and nothing settled since: write the snapshot alone
                    self._outbox_cond.wait(left)
                batch, self._outbox = self._outbox, []
                if not batch and self._committer_stop:
                    return
            self._write(batch)
            if not batch:
                continue
            with self._lock:
                for s in batch:
                    if s.delivery is not None:
                        self.inflight.pop(s.delivery.message_id, None)
            for hook in self.on_settled:
                try:
                    hook(batch)
                except Exception:
                    logger.exception("settled hook failed")

    def running_snapshot(self, *, force: bool = False) -> RunningSnapshot | None:
        """The task ids running now, if they changed since the last snapshot written (or
        ``force``): written with the next settlements (``Backend.settle(running=)``)."""
        self._run_due = 0.0
        ids = tuple(job.message.id for job in list(self.running.values()))
        with self._run_lock:
            if not force and ids == self._run_written:
                return None
            self._run_written = ids
            self._run_seq += 1
            seq = self._run_seq
        return RunningSnapshot(consumer=self.name, seq=seq, task_ids=ids, in_flight=len(self.inflight),
                               ttl_s=self.heartbeat_s * RUNNING_TTL_HEARTBEATS)

    def refresh_running(self) -> None:
        """At a heartbeat: rewrite the snapshot (its expiry) while something runs."""
        if self.running or self._run_written:
            with self._run_lock:
                self._run_written = None
            self._run_due = time.monotonic()
            with self._outbox_cond:
                self._outbox_cond.notify()

    def _write(self, batch: list[Settlement], *, bare_ok: bool = True) -> None:
        """Write settlements, retrying through broker outages; never drops one silently."""
        backoff = 0.05
        running = self.running_snapshot()
        if not batch and running is None:
            return
        while True:
            try:
                if self.results_inline:
                    self.backend.settle(batch, running)
                else:
                    self.backend.settle([Settlement(s.delivery, None, s.publish, s.events, s.chord,
                                                    s.dead_letter_reason) for s in batch], running)
                    self.results.settle([Settlement(None, s.result, more_results=s.more_results)
                                         for s in batch if s.result is not None or s.more_results])
                return
            except ConnectionLost as exc:
                logger.warning("broker unreachable while settling %d task(s) (%s); retrying", len(batch), exc)
                time.sleep(backoff + random.uniform(0, backoff))
                backoff = min(BACKOFF_MAX_S, backoff * 2)
            except BrokerError as exc:
                if running is not None:
                    with self._run_lock:
                        self._run_written = None  # the next write carries a fresh snapshot
                    running = None
                if not batch:
                    logger.warning("could not write this worker's running snapshot", exc_info=True)
                    return
                if len(batch) == 1:
                    bare = _bare(batch[0], exc) if bare_ok else None
                    if bare is not None:  # the task ran: ack it with a FAILURE rather than run it again
                        logger.error("cannot settle message %s (%s); writing a bare FAILURE and the ack",
                                     batch[0].delivery.message_id if batch[0].delivery else "-", exc)
                        self._write([bare], bare_ok=False)
                        return
                    logger.critical("cannot settle message %s; it will be redelivered after its lease",
                                    batch[0].delivery.message_id if batch[0].delivery else "-", exc_info=True)
                    return
                for s in batch:  # isolate the one that fails
                    self._write([s])
                return

    # -- heartbeat ---------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        next_reclaim = time.monotonic() + random.uniform(0, self.heartbeat_s)
        while not self._finished.is_set():
            with self._lock:
                held = list(self.inflight.values())
            try:
                if held:
                    self.backend.refresh_leases(self.name, held)
                if time.monotonic() >= next_reclaim:
                    self.backend.reclaim(self.queues, self.lease_s, self.max_deliveries)
                    next_reclaim = time.monotonic() + self.heartbeat_s
                self.refresh_running()
                for hook in self.on_heartbeat:
                    hook(self)
                self.progress.broker_ok = time.monotonic()
            except ConnectionLost as exc:
                self.progress.broker_failed = time.monotonic()
                logger.warning("heartbeat failed: %s", exc)
            except Exception:
                logger.critical("heartbeat failed", exc_info=True)
            if self.health_slot is not None:  # the loop's thread may be inside a long task
                self.health_slot[0].write(self.health_slot[1], self.progress)
            if self._finished.wait(self.heartbeat_s):
                return

    # -- control channel -------------------------------------------------------------------

    def _control_loop(self) -> None:
        """Listen on the broker's control channel and run the commands (see docs/protocol.md)."""
        sub: ControlSubscription | None = None
        backoff = 0.1
        while not self._finished.is_set():
            try:
                if sub is None:
                    sub = self.backend.control_subscribe()
                    backoff = 0.1
                message = sub.get(0.5)
            except Exception as exc:  # BrokerError, or redis-py tripping over a closed socket
                logger.warning("control channel lost (%s); resubscribing in %.1fs", exc, backoff)
                if sub is not None:
                    _close_quietly(sub)
                    sub = None
                self._finished.wait(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            if message is not None:
                self.on_control(message)
        if sub is not None:
            _close_quietly(sub)

    def on_control(self, message: dict[str, Any]) -> None:
        remote.dispatch(self, message)

    def _start_thread(self, target: Callable[[], None], what: str) -> None:
        def supervised() -> None:
            try:
                target()
            except Exception:
                logger.critical("%s thread crashed", what, exc_info=True)

        t = threading.Thread(target=supervised, name=f"celeriac-{what}", daemon=True)
        t.start()
        self._threads.append(t)


def _control_revoke(consumer: Consumer, message: dict[str, Any]) -> None:
    """``{"command": "revoke", "task_ids": [...], "terminate": bool, "signal": name}``."""
    ids = [str(i) for i in message.get("task_ids") or []]
    executor = consumer.executor
    executor.revoked_ids.update(ids)
    if len(executor.revoked_ids) > 100_000:  # bounded; the broker's revoked set stays the reference
        executor.revoked_ids = set(ids)
    if message.get("terminate"):
        for task_id in ids:
            if executor.terminate(task_id):
                logger.warning("task %s terminated (revoke with terminate)", task_id)


def _bare(s: Settlement, exc: BaseException) -> Settlement:
    """What is left of a settlement the broker refused: its ack (or dead letter) and, for a
    task that ran, a FAILURE naming the error, so that it is not run again."""
    record = s.result
    if record is not None and record.status != states.REJECTED:
        from celeriac import serialization
        from celeriac.backends.base import ResultRecord

        meta = {"exc_type": "EncodeError", "exc_module": "celeriac.errors",
                "exc_message": [f"the outcome could not be written: {str(exc)[:500]}"]}
        record = ResultRecord(task_id=record.task_id, status=states.FAILURE, content_type=serialization.JSON,
                              result=serialization.dumps(meta, "json")[1], date_done=time.time(),
                              task=record.task, worker=record.worker, queue=record.queue)
    return Settlement(s.delivery, record, dead_letter_reason=s.dead_letter_reason)


def _close_quietly(sub: ControlSubscription) -> None:
    try:
        sub.close()
    except Exception:
        logger.debug("closing the control subscription failed", exc_info=True)


def rss_kib() -> int | None:
    """This process's resident set size in KiB (Linux), None where unknown."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
