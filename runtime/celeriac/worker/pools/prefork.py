"""The prefork pool: a supervisor process and N child processes, each a whole consumer.

Each child fetches, runs and settles on its own (a solo consumer with its own
connection), so no task crosses a pipe between processes: the supervisor only starts
children, forwards signals, replaces children that exit (``max_tasks_per_child``, a
crash), and hands back the messages a dead child held so they are redelivered at once
instead of after the lease timeout.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from celeriac import metrics, signals
from celeriac.errors import BrokerError
from celeriac.health import HealthServer, Progress, SharedProgress
from celeriac.worker.consumer import EXIT_HARD_LIMIT
from celeriac.worker.remote import SUPERVISOR_DIR_ENV

if TYPE_CHECKING:
    from celeriac.app import Celeriac

logger = logging.getLogger(__name__)

AUTOSCALE_EVERY_S = 1.0  #: how often ``--autoscale`` looks at the queues
AUTOSCALE_IDLE_S = 10.0  #: no message waiting this long: one child fewer (Celery's keepalive is 30 s)
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}  #: blocked while forking a child
RESTART_BACKOFF_S = 1.0  #: pause before replacing a child that died young
YOUNG_S = 2.0  #: a child that dies sooner than this after start counts as a crash loop


class PreforkSupervisor:
    """Start and watch ``concurrency`` child processes running ``child_main(name)``."""

    def __init__(self, app: Celeriac, queues: Sequence[str], concurrency: int, *, hostname: str,
                 child_main: Callable[[str, tuple[SharedProgress, int] | None], None],
                 shutdown_timeout_s: float, on_ready: Callable[[], object] | None = None,
                 autoscale: tuple[int, int] | None = None) -> None:
        self.app = app
        self.autoscale = autoscale
        """``(min, max)`` children (``--autoscale``): grown by one a second while messages wait
        in its queues, shrunk by one after ``AUTOSCALE_IDLE_S`` without any."""
        self._scale_checked = 0.0
        self._last_busy = time.monotonic()
        self.on_ready = on_ready  #: called once the first children are started (``worker_ready``)
        self.queues = list(queues)
        self.concurrency = max(1, concurrency)
        self.hostname = hostname
        self.child_main = child_main
        self.shutdown_timeout_s = shutdown_timeout_s
        self._ctx = multiprocessing.get_context("fork")
        self._children: dict[int, tuple[BaseProcess, str, float]] = {}
        self.progress = Progress()
        self._health_port = app.conf.worker_health_port
        self._shared = SharedProgress(max(64, 4 * self.concurrency)) if self._health_port is not None else None
        self._slots: dict[int, int | None] = {}  # child pid -> its SharedProgress slot
        self._stopping = False
        self._forced = False
        self._seq = 0
        self._retiring: set[int] = set()

    def _spawn(self) -> None:
        self._seq += 1
        name = f"{self.hostname}.{os.getpid()}.c{self._seq}"
        slot = self._shared.claim() if self._shared is not None else None
        cell = (self._shared, slot) if self._shared is not None and slot is not None else None
        proc = self._ctx.Process(target=self.child_main, args=(name, cell), name=f"celeriac-child-{self._seq}",
                                 daemon=False)
        # The child inherits this process's signal handlers; a SIGTERM arriving before it
        # installs its own would run the supervisor's handler in the child (which then
        # never stops). Block them across the fork; the child unblocks once it is ready.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        assert proc.pid is not None
        self._children[proc.pid] = (proc, name, time.monotonic())
        self._slots[proc.pid] = slot

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.progress.stopping = True
        if signals.worker_shutting_down.receivers:
            signals.worker_shutting_down.send(self.hostname, sig=signal.Signals(signum).name,
                                              how="Cold" if self._stopping else "Warm", exitcode=0)
        if self._stopping:
            self._forced = True
            logger.warning("second signal: stopping now, handing running tasks back")
        else:
            self._stopping = True
            logger.info("signal %s: stopping (grace %.0fs)", signal.Signals(signum).name, self.shutdown_timeout_s)
        for proc, _name, _t in list(self._children.values()):
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL if self._forced else signal.SIGTERM)

    def _on_resize(self, signum: int, _frame: object) -> None:
        """SIGTTIN: one child more; SIGTTOU: one fewer (``pool_grow``/``pool_shrink``)."""
        self.concurrency = self.concurrency + 1 if signum == signal.SIGTTIN else max(1, self.concurrency - 1)
        logger.info("pool size now %d", self.concurrency)

    def _autoscale(self) -> None:
        """Celery's autoscaler, on what the broker says: messages waiting (ready or due) in
        the consumed queues grow the pool up to max; none for a while shrinks it to min."""
        if self.autoscale is None or time.monotonic() - self._scale_checked < AUTOSCALE_EVERY_S:
            return
        self._scale_checked = time.monotonic()
        low, high = self.autoscale
        try:
            stats = self.app.queue_stats(self.queues)
        except BrokerError as exc:
            logger.debug("autoscale: cannot read the queues (%s)", exc)
            return
        waiting = sum(s.waiting + s.due for s in stats.values())
        if waiting > 0:
            self._last_busy = time.monotonic()
            if self.concurrency < high:
                self.concurrency += 1
                logger.info("autoscale: %d message(s) waiting: %d children", waiting, self.concurrency)
        elif self.concurrency > low and time.monotonic() - self._last_busy > AUTOSCALE_IDLE_S:
            self.concurrency -= 1
            self._last_busy = time.monotonic()
            logger.info("autoscale: idle: %d children", self.concurrency)

    def _resize(self) -> None:
        live = [pid for pid in self._children if pid not in self._retiring]
        while len(live) < self.concurrency:
            self._spawn()
            live = [pid for pid in self._children if pid not in self._retiring]
        for pid in live[self.concurrency:]:
            self._retiring.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGQUIT, self._on_signal)
        signal.signal(signal.SIGTTIN, self._on_resize)
        signal.signal(signal.SIGTTOU, self._on_resize)
        server = None
        if self._health_port is not None:
            server = HealthServer(self._health_port, self.live, self.ready, bind=self.app.conf.worker_health_bind)
        try:
            with observability(self.app.conf.worker_metrics_port, self.app.conf.worker_metrics_bind):
                return self._run()
        finally:
            if server is not None:
                server.close()

    # -- health (celeriac.health): read from the children's shared slots, no broker call ----------

    def live(self) -> tuple[bool, str]:
        ok, reason = self.progress.live()
        if not ok or self._shared is None:
            return ok, reason
        for slot in self._shared.used():
            child_ok, child_reason = self._shared.read(slot).live()
            if not child_ok:
                return False, f"a child's {child_reason}"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if self.progress.stopping:
            return False, "shutting down"
        if self._shared is None:
            return True, "ok"
        reasons = []
        for slot in self._shared.used():
            ok, reason = self._shared.read(slot).ready()
            if ok:
                return True, "ok"
            reasons.append(reason)
        return False, f"no child consuming ({'; '.join(sorted(set(reasons))) or 'none running'})"

    def _run(self) -> int:
        for _ in range(self.concurrency):
            self._spawn()
        if self.on_ready is not None:
            self.on_ready()
        deadline: float | None = None
        while self._children:
            self.progress.tick = time.monotonic()
            if not self._stopping:
                self._autoscale()
                self._resize()
            if self._stopping and deadline is None:
                deadline = time.monotonic() + self.shutdown_timeout_s + 2.0
            if deadline is not None and time.monotonic() > deadline and not self._forced:
                logger.warning("grace period over: killing %d child(ren)", len(self._children))
                self._forced = True
                for proc, _n, _t in self._children.values():
                    proc.kill()
            for pid, (proc, name, started) in list(self._children.items()):
                proc.join(timeout=0)
                if proc.exitcode is None:
                    continue
                del self._children[pid]
                if self._shared is not None:
                    self._shared.release(self._slots.pop(pid, None))
                self._retiring.discard(pid)
                metrics.process_dead(pid)
                clean = proc.exitcode == 0
                if proc.exitcode == EXIT_HARD_LIMIT:
                    logger.warning("child %s (pid %d) stopped by a task's hard time limit; replacing it",
                                   name, pid)
                elif not clean and self._forced and proc.exitcode == -signal.SIGKILL:
                    # asked for: a second stop signal or the end of the grace period
                    logger.warning("child %s (pid %d) killed on shutdown; handing back its messages", name, pid)
                elif not clean:
                    logger.error("child %s (pid %d) exited with %s; handing back its messages",
                                 name, pid, proc.exitcode)
                # A crash counts as a delivery of what the child held (poison messages end
                # in the dead-letter stream); a clean or time-limited exit does not.
                self._release(name, count_delivery=not clean and proc.exitcode != EXIT_HARD_LIMIT,
                              cause=exit_cause(proc.exitcode))
                if not self._stopping and len(self._children) - len(self._retiring) < self.concurrency:
                    if not clean and time.monotonic() - started < YOUNG_S:
                        time.sleep(RESTART_BACKOFF_S)
                    if not self._stopping:  # a stop signal may have come during the pause
                        self._spawn()
            time.sleep(0.05)
        return 0

    def _release(self, consumer: str, *, count_delivery: bool, cause: str = "crashed") -> None:
        """Requeue what a finished child still held (nothing, after a clean exit)."""
        try:
            n = self.app.broker.release_consumer(self.queues, consumer, count_delivery=count_delivery,
                                                 cause=cause)
        except BrokerError as exc:
            logger.warning("could not hand back messages of %s (%s); they return after the lease", consumer, exc)
            return
        if n:
            logger.warning("handed back %d message(s) held by %s", n, consumer)


def exit_cause(code: int | None) -> str:
    """How a child ended, for the history of the messages it held (``celeriac dlq list``)."""
    if code is not None and code < 0:
        if -code == signal.SIGKILL:
            return "killed (SIGKILL: out of memory, a kill -9, or its time ran out)"
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"crashed (killed by {name})"
    return f"crashed (exit code {code})"


@contextlib.contextmanager
def observability(port: int | None, bind: str = "0.0.0.0") -> Iterator[None]:
    """A directory shared with the children (control claims; multiprocess metrics when
    ``port`` is set, served from here), removed at exit."""
    path = tempfile.mkdtemp(prefix="celeriac-worker-")
    saved = {k: os.environ.get(k) for k in (metrics.MULTIPROC_ENV, SUPERVISOR_DIR_ENV)}
    os.environ[SUPERVISOR_DIR_ENV] = path
    server = None
    if port is not None:
        os.makedirs(os.path.join(path, "metrics"))
        os.environ[metrics.MULTIPROC_ENV] = os.path.join(path, "metrics")
        try:
            server = metrics.serve(port, bind=bind)
        except OSError as exc:
            logger.error("cannot serve metrics on port %s: %s", port, exc)
    try:
        yield
    finally:
        if server is not None:
            server.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(path, ignore_errors=True)
