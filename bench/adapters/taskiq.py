"""taskiq adapter: ``taskiq worker --workers 2 --max-async-tasks 8`` on taskiq-redis.

Why it exists: taskiq is the newer asyncio-first queue with a FastAPI-like API. Kind
``w2x8``: two worker processes, at most 8 concurrent tasks each. No batch enqueue; the
result wait polls every 1 ms (taskiq's default is 0.2 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, venv_bin

#: How often ``roundtrip`` polls for the result (taskiq's default is 0.2 s).
RESULT_POLL_S = 0.001


class TaskiqAdapter(Adapter):
    name = "taskiq"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import taskiq_app

        self._mod = taskiq_app
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(taskiq_app.broker.startup())

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        if scenario == "enqueue":
            return ("-",)
        return ("w2x8",) if scenario in ("throughput", "memory", "latency", "mixed") else ()

    def version(self) -> str:
        from importlib.metadata import version

        return f"taskiq {version('taskiq')} / taskiq-redis {version('taskiq-redis')}"

    def worker_commands(self, kind: str) -> list[list[str]]:
        return [[venv_bin("taskiq"), "worker", "taskiq_app:broker", "--workers", "2",
                 "--max-async-tasks", "8", "--log-level", "ERROR"]]

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def enqueue_one(self, n: int, *, results: bool = True) -> None:
        task = self._mod.noop if results else self._mod.noop_nr

        async def send() -> None:
            for _ in range(n):
                await task.kiq()

        self._run(send())

    def enqueue_sleeps(self, durations_ms: Sequence[int]) -> None:
        async def send() -> None:
            for ms in durations_ms:
                await self._mod.sleep_ms.kiq(ms)

        self._run(send())

    def roundtrip(self, timeout_s: float) -> None:
        async def once() -> None:
            handle = await self._mod.noop.kiq()
            result = await handle.wait_result(check_interval=RESULT_POLL_S, timeout=timeout_s)
            if result.is_err:
                raise RuntimeError(f"taskiq task failed: {result.error!r}")

        self._run(once())

    def close(self) -> None:
        self._run(self._mod.broker.shutdown())
        self._loop.close()
