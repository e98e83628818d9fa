"""The threads pool: N threads take deliveries from a local queue (I/O-bound tasks)."""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING

from celeriac.backends.base import Delivery

if TYPE_CHECKING:
    from celeriac.worker.consumer import Consumer


class ThreadPool:
    def __init__(self, concurrency: int, prefetch_multiplier: int = 1) -> None:
        self.concurrency = max(1, concurrency)
        self._multiplier = max(1, prefetch_multiplier)
        self.capacity = self.concurrency * self._multiplier
        self._queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._running: dict[int, Delivery] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._consumer: Consumer | None = None

    def start(self, consumer: Consumer) -> None:
        self._consumer = consumer
        for i in range(self.concurrency):
            t = threading.Thread(target=self._work, name=f"celeriac-pool-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _work(self) -> None:
        c = self._consumer
        assert c is not None
        me = threading.get_ident()
        while True:
            d = self._queue.get()
            if d is None:
                return
            with self._lock:
                self._running[me] = d
            try:
                settlement = c.executor.process(d, c.job_started)
            except Exception as exc:  # never expected (process() does not raise): keep the thread
                settlement = c.executor.crashed(d, exc)
            finally:
                with self._lock:
                    self._running.pop(me, None)
            c.complete(settlement)

    def submit(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def resize(self, delta: int) -> int:
        """Add (``delta`` > 0) or retire threads (``pool_grow``/``pool_shrink``); returns the
        new size. A retired thread finishes what it runs, then takes the stop marker."""
        with self._lock:
            new = max(1, self.concurrency + delta)
            for i in range(self.concurrency, new):
                t = threading.Thread(target=self._work, name=f"celeriac-pool-{i}", daemon=True)
                t.start()
                self._threads.append(t)
            for _ in range(self.concurrency - new):
                self._queue.put(None)
            self.concurrency = new
            self.capacity = new * self._multiplier
        if self._consumer is not None:
            self._consumer.concurrency = new
        return new

    def take_unstarted(self) -> list[Delivery]:
        """Remove and return the deliveries no thread has started (stopping)."""
        unstarted: list[Delivery] = []
        while True:
            try:
                d = self._queue.get_nowait()
            except queue.Empty:
                break
            if d is not None:
                unstarted.append(d)
        return unstarted

    def shutdown(self, timeout_s: float) -> tuple[list[Delivery], list[Delivery]]:
        unstarted = self.take_unstarted()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        hurry = self._consumer.hurry if self._consumer is not None else None
        for t in self._threads:
            while t.is_alive() and time.monotonic() < deadline and not (hurry is not None and hurry.is_set()):
                t.join(min(0.1, max(0.0, deadline - time.monotonic())))
        with self._lock:
            running = list(self._running.values())
        return unstarted, running
