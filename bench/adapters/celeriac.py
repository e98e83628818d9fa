"""celeriac adapter: ``celeriac worker`` with the prefork, threads and asyncio pools.

Why it exists: the system under test, measured by the same scenarios as its peers, so the
report's ratio column compares like with like. Kinds: ``prefork`` (``-P prefork -c 2``:
two processes), ``threads`` (``-P threads -c 16``, one process), and for the mixed
scenario ``threads-2x8`` (two ``-P threads -c 8`` workers) and ``asyncio-2x8`` (two
``-P asyncio -c 8`` workers running an ``async def`` sleep). Workers log at WARNING (no
per-task lines), like every peer. The producer confirms every ``delay()`` (the default);
``celeriac_buffered`` measures the opt-in send buffer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from adapters.base import Adapter, repo_root

#: Worker command line per kind: (pool, concurrency, number of worker processes).
_KINDS: dict[str, tuple[str, int, int]] = {
    "prefork": ("prefork", 2, 1),
    "threads": ("threads", 16, 1),
    "threads-2x8": ("threads", 8, 2),
    "asyncio-2x8": ("asyncio", 8, 2),
}


def _runtime_on_path() -> None:
    runtime = str(repo_root() / "runtime")
    if runtime not in sys.path:
        sys.path.insert(0, runtime)


class CeleriacAdapter(Adapter):
    name: ClassVar[str] = "celeriac"
    buffered: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _runtime_on_path()
        if self.buffered:
            os.environ["CELERIAC_TASK_PUBLISH_BUFFER"] = "1"
        import celeriac_app

        self._mod = celeriac_app

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        return {
            "enqueue": ("-",),
            "throughput": ("prefork", "threads"),
            "memory": ("prefork", "threads"),
            "latency": ("prefork", "threads"),
            "mixed": ("threads-2x8", "asyncio-2x8"),
        }.get(scenario, ())

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"celeriac {version('celeriac')}"
        except PackageNotFoundError:
            return "celeriac (source tree)"

    def base_env(self) -> dict[str, str]:
        env = super().base_env()
        env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(repo_root() / "runtime")])
        return env

    def worker_commands(self, kind: str) -> list[list[str]]:
        pool, concurrency, count = _KINDS[kind]
        return [
            [sys.executable, "-m", "celeriac.cli", "-A", "celeriac_app", "worker", "-P", pool,
             "-c", str(concurrency), "-n", f"bench{index}@bench", "--loglevel", "WARNING"]
            for index in range(count)
        ]

    def _task(self, results: bool) -> Any:
        return self._mod.noop if results else self._mod.noop_nr

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        delay = self._task(results).delay
        for _ in range(n):
            delay()
        self._mod.app.flush()

    def enqueue_batch(self, n: int, *, results: bool = True) -> bool:
        # The documented bulk API (docs/canvas.md, "Many calls of one task").
        self._task(results).apply_many([()] * n)
        self._mod.app.flush()
        return True

    def worker_env(self, kind: str) -> dict[str, str]:
        # asyncio workers define bench.sleep_ms as a coroutine (see celeriac_app).
        return {"BENCH_ASYNC_SLEEP": "1"} if kind.startswith("asyncio") else {}

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        delay = self._mod.sleep_ms.delay
        for ms in durations_ms:
            delay(ms)
        self._mod.app.flush()

    def roundtrip(self, timeout_s: float) -> None:
        self._mod.noop.delay().get(timeout=timeout_s)

    def close(self) -> None:
        self._mod.app.close()
