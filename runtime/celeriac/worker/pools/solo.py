"""The solo pool: run each delivery inline in the consumer's thread, one at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.backends.base import Delivery

if TYPE_CHECKING:
    from celeriac.worker.consumer import Consumer


class SoloPool:
    def __init__(self, prefetch: int = 1) -> None:
        self.capacity = max(1, prefetch)
        self.concurrency = 1
        self._consumer: Consumer | None = None

    def start(self, consumer: Consumer) -> None:
        self._consumer = consumer

    def submit(self, delivery: Delivery) -> None:
        c = self._consumer
        assert c is not None
        try:
            settlement = c.executor.process(delivery, c.job_started)
        except Exception as exc:  # never expected (process() does not raise): keep the process
            settlement = c.executor.crashed(delivery, exc)
        c.complete(settlement)

    def take_unstarted(self) -> list[Delivery]:
        return []  # nothing waits here: submit() runs the delivery before it returns

    def resize(self, delta: int) -> int:
        raise NotImplementedError("the solo pool cannot be resized at run time")

    def shutdown(self, timeout_s: float) -> tuple[list[Delivery], list[Delivery]]:
        return [], []
