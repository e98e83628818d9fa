"""arq adapter: two ``arq`` worker processes, 8 concurrent jobs each (asyncio).

Why it exists: arq is the asyncio-native Redis queue; it shows what one event loop per
process gets. It has no batch enqueue (``enqueue_batch`` reports unsupported) and no
blocking result wait: ``roundtrip`` polls the result every 1 ms (default 0.5 s).
The producer keeps one event loop for the adapter's life.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, venv_bin

#: How often ``roundtrip`` polls for the job result (arq's default is 0.5 s).
RESULT_POLL_S = 0.001


class ArqAdapter(Adapter):
    name = "arq"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import arq_app
        from arq import create_pool

        self._loop = asyncio.new_event_loop()
        self._pool = self._loop.run_until_complete(create_pool(arq_app.WorkerSettings.redis_settings))

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        if scenario == "enqueue":
            return ("-",)
        return ("2x8",) if scenario in ("throughput", "memory", "latency", "mixed") else ()

    def version(self) -> str:
        from importlib.metadata import version

        return f"arq {version('arq')}"

    def worker_commands(self, kind: str) -> list[list[str]]:
        return [[venv_bin("arq"), "arq_app.WorkerSettings"] for _ in range(2)]

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        name = "noop" if results else "noop_nr"

        async def send() -> None:
            for _ in range(n):
                await self._pool.enqueue_job(name)

        self._run(send())

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        async def send() -> None:
            for ms in durations_ms:
                await self._pool.enqueue_job("sleep_ms", ms)

        self._run(send())

    def roundtrip(self, timeout_s: float) -> None:
        async def once() -> None:
            job = await self._pool.enqueue_job("noop")
            await job.result(timeout=timeout_s, poll_delay=RESULT_POLL_S)

        self._run(once())

    def close(self) -> None:
        self._run(self._pool.aclose())
        self._loop.close()
