"""RQ adapter: two ``rq worker`` processes, RQ's ``SimpleWorker``, and ``rq worker-pool``.

Why it exists: RQ is the common "simple Redis queue" choice. Its default worker forks a
work horse per job, so it is measured as users run it (``fork-x2``: two ``rq worker``),
without the per-job fork (``simple-x2``: ``-w rq.worker.SimpleWorker``), and with RQ's
own pool (``pool-2``: ``rq worker-pool -n 2``, forking workers). RQ has no threads, so
the mixed scenario runs with two forking workers: 2 slots where others have 16.
Forked work horses exit after each job, so their progress is written through
(``BENCH_PROGRESS_SYNC=1``: one extra Redis call per job, small next to a fork), and the
forking kinds drain ``FORK_DRAIN_CAP`` tasks instead of 20,000 (~100 jobs/s here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, venv_bin

#: Queue name used by every RQ run.
QUEUE = "bench"
#: Kinds whose jobs run in a forked horse (progress must be written through).
_FORKING = frozenset({"fork-x2", "pool-2"})
#: Tasks drained by forking kinds (~100 jobs/s on 2 cores: 20k would take minutes).
FORK_DRAIN_CAP = 2_000


class RqAdapter(Adapter):
    name = "rq"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import redis
        import rq_tasks
        from rq import Queue

        self._conn = redis.Redis.from_url(self.redis_url)
        self._queue = Queue(QUEUE, connection=self._conn)
        self._tasks = rq_tasks

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        return {
            "enqueue": ("-",),
            "throughput": ("fork-x2", "simple-x2", "pool-2"),
            "memory": ("fork-x2", "simple-x2", "pool-2"),
            "latency": ("fork-x2", "simple-x2"),
            "mixed": ("fork-x2",),
        }.get(scenario, ())

    def version(self) -> str:
        import rq

        return f"rq {rq.__version__}"

    def worker_commands(self, kind: str) -> list[list[str]]:
        rq_bin = venv_bin("rq")
        common = ["-u", self.redis_url]
        if kind == "pool-2":
            return [[rq_bin, "worker-pool", QUEUE, *common, "-n", "2", "-l", "WARNING"]]
        extra = ["-w", "rq.worker.SimpleWorker"] if kind == "simple-x2" else []
        return [[rq_bin, "worker", QUEUE, *common, *extra, "--logging_level", "WARNING"]
                for _ in range(2)]

    def drain_cap(self, kind: str) -> int | None:
        return FORK_DRAIN_CAP if kind in _FORKING else None

    def worker_env(self, kind: str) -> dict[str, str]:
        return {"BENCH_PROGRESS_SYNC": "1"} if kind in _FORKING else {}

    @staticmethod
    def _ttl(results: bool) -> int | None:
        return None if results else 0

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        enqueue, func, ttl = self._queue.enqueue, self._tasks.noop, self._ttl(results)
        for _ in range(n):
            enqueue(func, result_ttl=ttl)

    def enqueue_batch(self, n: int, *, results: bool = True) -> bool:
        from rq import Queue

        ttl = self._ttl(results)
        self._queue.enqueue_many([Queue.prepare_data(self._tasks.noop, result_ttl=ttl) for _ in range(n)])
        return True

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        for ms in durations_ms:
            self._queue.enqueue(self._tasks.sleep_ms, ms, result_ttl=0)

    def roundtrip(self, timeout_s: float) -> None:
        job = self._queue.enqueue(self._tasks.noop)
        result = job.latest_result(timeout=max(1, math.ceil(timeout_s)))
        if result is None:
            raise TimeoutError(f"rq job {job.id} gave no result within {timeout_s}s")

    def close(self) -> None:
        self._conn.close()
