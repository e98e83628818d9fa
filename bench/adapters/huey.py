"""huey adapter: ``huey_consumer`` with two worker processes, or two consumers x 8 threads.

Why it exists: huey is the small, popular alternative with Redis storage. Kinds:
``process-2`` (``-k process -w 2``) for no-op work and ``thread-2x8`` (two consumers with
``-k thread -w 8``) for the mixed scenario. Consumers run with ``-q`` (WARNING level; no
per-task lines) and ``-n`` (no periodic-task scan). No batch enqueue in huey's API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, venv_bin

#: kind → (worker type, workers per consumer, consumers)
_KINDS: dict[str, tuple[str, int, int]] = {"process-2": ("process", 2, 1), "thread-2x8": ("thread", 8, 2)}


class HueyAdapter(Adapter):
    name = "huey"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import huey_app

        self._mod = huey_app

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        return {
            "enqueue": ("-",),
            "throughput": ("process-2",),
            "memory": ("process-2",),
            "latency": ("process-2",),
            "mixed": ("thread-2x8",),
        }.get(scenario, ())

    def version(self) -> str:
        import huey

        return f"huey {huey.__version__}"

    def worker_commands(self, kind: str) -> list[list[str]]:
        worker_type, workers, consumers = _KINDS[kind]
        return [[venv_bin("huey_consumer"), "huey_app.huey", "-k", worker_type, "-w", str(workers), "-q", "-n"]
                for _ in range(consumers)]

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        task = self._mod.noop if results else self._mod.noop_nr
        for _ in range(n):
            task()

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        for ms in durations_ms:
            self._mod.sleep_ms(ms)

    def roundtrip(self, timeout_s: float) -> None:
        self._mod.noop().get(blocking=True, timeout=timeout_s)
