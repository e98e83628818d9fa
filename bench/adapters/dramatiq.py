"""Dramatiq adapter: ``dramatiq -p 2 -t 8`` and ``-p 2 -t 1``.

Why it exists: Dramatiq is the fastest mainstream Redis-backed Python queue and the one
whose leases celeriac's design follows. Kinds: ``p2t8`` (two processes, eight threads
each: the default), ``p2t1`` (two processes, one thread: the fair shape for no-op work).
Batched enqueue uses ``dramatiq.group(...).run()``; Dramatiq has no pipelined publish, a
group sends its messages one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, venv_bin

#: kind → (processes, threads)
_KINDS: dict[str, tuple[int, int]] = {"p2t8": (2, 8), "p2t1": (2, 1)}


class DramatiqAdapter(Adapter):
    name = "dramatiq"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import dramatiq_app

        self._mod = dramatiq_app

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        return {
            "enqueue": ("-",),
            "throughput": ("p2t8", "p2t1"),
            "memory": ("p2t8", "p2t1"),
            "latency": ("p2t8", "p2t1"),
            "mixed": ("p2t8",),
        }.get(scenario, ())

    def version(self) -> str:
        import dramatiq

        return f"dramatiq {dramatiq.__version__}"

    def worker_commands(self, kind: str) -> list[list[str]]:
        processes, threads = _KINDS[kind]
        return [[venv_bin("dramatiq"), "dramatiq_app", "-p", str(processes), "-t", str(threads)]]

    def _actor(self, results: bool) -> Any:
        return self._mod.noop if results else self._mod.noop_nr

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        send = self._actor(results).send
        for _ in range(n):
            send()

    def enqueue_batch(self, n: int, *, results: bool = True) -> bool:
        import dramatiq

        actor = self._actor(results)
        dramatiq.group(actor.message() for _ in range(n)).run()
        return True

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        send = self._mod.sleep_ms.send
        for ms in durations_ms:
            send(ms)

    def roundtrip(self, timeout_s: float) -> None:
        message = self._mod.noop.send()
        message.get_result(backend=self._mod.result_backend, block=True, timeout=int(timeout_s * 1000))

    def close(self) -> None:
        self._mod.broker.close()
