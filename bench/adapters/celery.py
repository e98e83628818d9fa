"""Celery adapter: ``celery worker`` with the prefork and threads pools.

Why it exists: Celery is the system celeriac replaces, so it is the main comparison.
Kinds: ``prefork`` (``-P prefork -c 2``), ``threads`` (``-P threads -c 16``, one process)
and, for the mixed scenario, ``threads-2x8`` (two workers with ``-P threads -c 8``).
Workers run with ``--without-gossip --without-mingle --without-heartbeat`` (the usual
production advice; they only add broadcast traffic) and ``--loglevel WARNING`` (no
per-task log lines, as for every system).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, venv_bin

#: Worker command line per kind: (pool, concurrency, number of worker processes).
_KINDS: dict[str, tuple[str, int, int]] = {
    "prefork": ("prefork", 2, 1),
    "threads": ("threads", 16, 1),
    "threads-2x8": ("threads", 8, 2),
}


class CeleryAdapter(Adapter):
    name = "celery"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import celery_app  # producer side: same module the workers import

        self._mod = celery_app

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        return {
            "enqueue": ("-",),
            "throughput": ("prefork", "threads"),
            "memory": ("prefork", "threads"),
            "latency": ("prefork", "threads"),
            "mixed": ("threads-2x8",),
        }.get(scenario, ())

    def version(self) -> str:
        import celery

        return f"celery {celery.__version__}"

    def worker_commands(self, kind: str) -> list[list[str]]:
        pool, concurrency, count = _KINDS[kind]
        return [
            [venv_bin("celery"), "-A", "celery_app", "worker", "-P", pool, "-c", str(concurrency),
             "-n", f"bench{index}@%h", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"]
            for index in range(count)
        ]

    def _task(self, results: bool) -> Any:
        return self._mod.noop if results else self._mod.noop_nr

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        delay = self._task(results).delay
        for _ in range(n):
            delay()

    def enqueue_batch(self, n: int, *, results: bool = True) -> bool:
        from celery import group

        sig = self._task(results).s()
        group(sig.clone() for _ in range(n)).apply_async()
        return True

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        delay = self._mod.sleep_ms.delay
        for ms in durations_ms:
            delay(ms)

    def roundtrip(self, timeout_s: float) -> None:
        self._mod.noop.delay().get(timeout=timeout_s)

    def close(self) -> None:
        self._mod.app.close()
