"""The interface one benchmarked system implements, and the worker bookkeeping they share.

Why it exists: scenarios (``kit/scenarios.py``) drive every system the same way and never
import a queue library; each system's quirks live in one small adapter module
``bench/adapters/<name>.py`` that subclasses :class:`Adapter`. The harness finds an
adapter by module name (``--only celery,rq`` → ``adapters.celery``, ``adapters.rq``), so
adding a system (e.g. ``celeriac``) means adding one module and its task module under
``bench/peers/`` (or wherever its tasks live), nothing else.

Contract for an adapter
-----------------------
* ``name`` — the system name printed in reports (``"celeriac"`` enables the ratio column).
* ``kinds(scenario)`` (classmethod) — the worker configurations ("pools") to run for a scenario, e.g.
  ``("prefork", "threads")``; ``()`` skips the scenario. ``enqueue`` and ``reference``
  start no workers, their kind is ignored (return ``("-",)`` for enqueue).
* ``drain_cap(kind)`` (optional) — fewer tasks for a very slow kind; reported as ``n``.
* ``worker_commands(kind)`` — the CLI command lines to start, one per worker process
  tree; the base class spawns them with ``BENCH_REDIS_URL`` and ``PYTHONPATH`` set
  (``worker_env`` may add variables), logs to ``log_dir``, and kills the whole trees.
* producer methods, called in the per-run child process (never the harness itself):
  ``enqueue_one(n, results=)``, ``enqueue_batch(n, results=)`` (return ``False`` when the
  system has no batch API), ``enqueue_sleeps(durations_ms)``, ``roundtrip(timeout_s)``.
* every task the workers run must call ``benchprogress.record(started)`` when done
  (``started = time.time()`` taken as the task begins): that is how scenarios see
  completion and time the first start → last end, see ``peers/benchprogress.py``.
  Three tasks are needed: a no-op that stores its result, a no-op whose result is not
  stored, and ``sleep_ms(ms)`` (``time.sleep``/``asyncio.sleep``; result not stored).

A celeriac adapter would run ``[bin/celeriac, "worker", "-A", "celeriac_app", "-P",
"prefork", "-c", "2"]`` and put ``runtime/`` on ``sys.path`` / ``PYTHONPATH`` itself
(``repo_root() / "runtime"``); nothing at module level of the harness imports celeriac.
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import benchprogress
import psutil
import redis
from kit import procs

#: Scenarios an adapter may be asked about in :meth:`Adapter.kinds`.
SCENARIOS = ("enqueue", "throughput", "latency", "mixed", "memory", "reference")


def bench_dir() -> Path:
    """``bench/`` (this file is ``bench/adapters/base.py``)."""
    return Path(__file__).resolve().parent.parent


def repo_root() -> Path:
    return bench_dir().parent


def peers_dir() -> Path:
    """Where the peer task modules live (put on the workers' ``PYTHONPATH``)."""
    return bench_dir() / "peers"


def venv_bin(name: str) -> str:
    """Path of a console script installed next to the running interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class Adapter(abc.ABC):
    """One system under test. Instances live in one child process for one run."""

    #: Name shown in reports; equals the module name in ``bench/adapters``.
    name: ClassVar[str] = ""

    def __init__(self, *, redis_url: str, log_dir: Path) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self._workers: list[subprocess.Popen[bytes]] = []
        self._profiler: subprocess.Popen[bytes] | None = None

    # ----- description -------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        """Worker configurations to run ``scenario`` with; empty to skip it.

        A classmethod: the harness asks it without importing the queue library (which
        adapters import in ``__init__``, inside the per-run child process).
        """

    def version(self) -> str:
        """The system's version string, for the report."""
        return "?"

    def drain_cap(self, kind: str) -> int | None:
        """Most tasks to drain with ``kind`` in throughput/mixed runs (``None``: no cap).

        Lets a very slow configuration (RQ's fork-per-job) finish in reasonable time;
        the task count used is reported next to every figure.
        """
        return None

    # ----- workers -----------------------------------------------------------------
    @abc.abstractmethod
    def worker_commands(self, kind: str) -> list[list[str]]:
        """CLI command lines for ``kind``; each becomes one worker process tree."""

    def worker_env(self, kind: str) -> dict[str, str]:
        """Extra environment for the worker processes of ``kind``."""
        return {}

    def base_env(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(peers_dir()), os.environ.get("PYTHONPATH", "")) if p)
        return {benchprogress.URL_ENV: self.redis_url, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}

    def start_workers(self, kind: str, *, profile_svg: Path | None = None) -> None:
        """Spawn the worker CLIs for ``kind`` and return at once (no readiness wait).

        With ``profile_svg`` the first worker runs under ``py-spy record`` (its whole
        process tree), and :meth:`stop_workers` makes py-spy write the flame graph.
        """
        env = self.base_env() | self.worker_env(kind)
        stamp = time.strftime("%H%M%S")
        for index, cmd in enumerate(self.worker_commands(kind)):
            if profile_svg is not None and index == 0:
                cmd = [venv_bin("py-spy"), "record", "--subprocesses", "--rate", "200",
                       "--nonblocking", "-o", str(profile_svg), "--", *cmd]
            log = self.log_dir / f"{self.name}-{kind}-{stamp}-w{index}.log"
            proc = procs.spawn(cmd, env=env, log_path=log, cwd=peers_dir())
            if profile_svg is not None and index == 0:
                self._profiler = proc
            self._workers.append(proc)

    def worker_pids(self) -> list[int]:
        """Root pids of the running worker trees (py-spy excluded when profiling)."""
        pids: list[int] = []
        for proc in self._workers:
            if proc is self._profiler:
                try:
                    pids.extend(child.pid for child in psutil.Process(proc.pid).children())
                except psutil.NoSuchProcess:
                    continue
            else:
                pids.append(proc.pid)
        return pids

    def workers_alive(self) -> bool:
        return bool(self._workers) and all(proc.poll() is None for proc in self._workers)

    def stop_workers(self) -> None:
        """Kill every worker tree; when profiling, let py-spy write its SVG first."""
        tree = procs.descendants(proc.pid for proc in self._workers)
        if self._profiler is not None:
            with contextlib.suppress(ProcessLookupError):
                self._profiler.send_signal(signal.SIGINT)
            procs.wait_exit(self._profiler, 60.0)
            self._profiler = None
        procs.kill_procs(tree)
        for proc in self._workers:
            try:
                proc.wait(timeout=procs.REAP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                continue
        self._workers.clear()

    # ----- producing ---------------------------------------------------------------
    @abc.abstractmethod
    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        """Send ``n`` no-op tasks one call at a time (``delay``/``enqueue``/``send``)."""

    def enqueue_batch(self, n: int, *, results: bool = True) -> bool:
        """Send ``n`` no-op tasks with the system's batch API; ``False`` if it has none."""
        return False

    @abc.abstractmethod
    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        """Send one ``sleep_ms(ms)`` task per duration (results not stored)."""

    @abc.abstractmethod
    def roundtrip(self, timeout_s: float) -> None:
        """Send one result-storing no-op and block until its result is back."""

    def wait_drained(self, n: int, timeout_s: float) -> benchprogress.Progress:
        """Wait until ``n`` tasks recorded completion; returns what was seen by then."""
        client = self.redis_client()
        try:
            return benchprogress.wait_for(client, n, timeout_s)
        finally:
            client.close()

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def close(self) -> None:
        """Release producer-side connections (workers are stopped separately)."""
        return None
