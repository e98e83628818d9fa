"""The asyncio pool: ``async def`` tasks run as coroutines on one event loop, many at once.

The loop runs in its own thread; the consumer submits deliveries with
``run_coroutine_threadsafe``. Plain (sync) tasks run in the loop's thread executor.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from celeriac.backends.base import Delivery, Settlement

if TYPE_CHECKING:
    from celeriac.worker.consumer import Consumer


class AsyncioPool:
    def __init__(self, concurrency: int, prefetch_multiplier: int = 1) -> None:
        self.concurrency = max(1, concurrency)
        self.capacity = self.concurrency * max(1, prefetch_multiplier)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="celeriac-asyncio", daemon=True)
        self._sem: asyncio.Semaphore | None = None
        self._waiting: dict[str, Delivery] = {}
        self._running: dict[str, Delivery] = {}
        self._futures: set[Future[None]] = set()
        self._closing = False
        self._consumer: Consumer | None = None

    def start(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self._thread.start()

        async def make() -> asyncio.Semaphore:
            return asyncio.Semaphore(self.concurrency)

        self._sem = asyncio.run_coroutine_threadsafe(make(), self._loop).result()

    async def _run(self, d: Delivery) -> None:
        c = self._consumer
        assert c is not None and self._sem is not None
        self._waiting[d.message_id] = d
        async with self._sem:
            if self._closing:
                return  # handed back by shutdown as never started
            del self._waiting[d.message_id]
            self._running[d.message_id] = d
            try:
                job = c.executor.begin(d)
                if isinstance(job, Settlement):
                    settlement = job
                else:
                    c.job_started(job)
                    outcome = await c.executor.call_async(job)
                    settlement = c.executor.finish(job, outcome)
            except Exception as exc:  # never expected (begin/finish do not raise)
                settlement = c.executor.crashed(d, exc)
            finally:
                self._running.pop(d.message_id, None)
            c.complete(settlement)

    def submit(self, delivery: Delivery) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._run(delivery), self._loop)
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def resize(self, delta: int) -> int:
        raise NotImplementedError("the asyncio pool cannot be resized at run time")

    def take_unstarted(self) -> list[Delivery]:
        """Stop starting coroutines; return the deliveries still waiting for a slot."""
        self._closing = True
        taken = list(self._waiting.values())
        self._waiting.clear()
        return taken

    def shutdown(self, timeout_s: float) -> tuple[list[Delivery], list[Delivery]]:
        self._closing = True
        unstarted = list(self._waiting.values())
        self._waiting.clear()
        deadline = time.monotonic() + timeout_s
        hurry = self._consumer.hurry if self._consumer is not None else None
        while self._running and time.monotonic() < deadline and not (hurry is not None and hurry.is_set()):
            time.sleep(0.05)
        running = list(self._running.values())
        for fut in list(self._futures):
            fut.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2)
        if not self._thread.is_alive():
            self._loop.close()
        return unstarted, running
