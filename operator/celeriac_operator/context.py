"""The operator's long-lived parts, built once at start-up and shared by every handler.

Why it exists: handlers are called per object, but the broker connection, the API client,
the status writer and the one events reader are per operator. They are built here when
kopf starts (``@kopf.on.startup``), put in kopf's ``memo`` (``memo.celeriac``), and their
loops are stopped at cleanup. The WorkerPool handlers find ``runtime`` and ``kube`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from celeriac_operator.kube import Kube
from celeriac_operator.queue import Runtime
from celeriac_operator.scheduling import ScheduleSync
from celeriac_operator.settings import OperatorConfig
from celeriac_operator.tracking import TaskTracker
from celeriac_operator.writer import Writer

logger = logging.getLogger(__name__)


class Context:
    """Everything a handler needs: ``runtime``, ``kube``, ``writer``, ``tasks``, ``schedules``."""

    def __init__(self, config: OperatorConfig, *, runtime: Runtime | None = None, kube: Kube | None = None) -> None:
        self.config = config
        self.runtime = runtime or Runtime.connect(config.broker_url)
        self.kube = kube or Kube.from_environment(threads=config.api_concurrency)
        self.writer = Writer(self.kube, qps=config.api_qps, burst=config.api_burst,
                             concurrency=config.api_concurrency)
        self.tasks = TaskTracker(self.runtime, self.kube, self.writer, config)
        self.schedules = ScheduleSync(self.runtime, self.kube, self.writer)
        self._loops: list[asyncio.Task[None]] = []
        self.broker_ok = False

    async def start(self) -> None:
        """Connect, place the events cursor, start the loops."""
        await self.tasks.start_cursor()
        self.broker_ok = True
        for coro in (self.writer.run(), self.tasks.run_events(), self.tasks.run_lookups(),
                     self.tasks.run_resync(), self.tasks.run_started_probe(), self.tasks.run_ttl()):
            self._spawn(coro)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        task.add_done_callback(self._loop_ended)
        self._loops.append(task)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.critical("operator loop %s died", task.get_coro(), exc_info=task.exception())

    async def stop(self) -> None:
        await self.writer.drained(5.0)
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Closing the app may flush a producer and closes broker sockets: off the loop too.
        await asyncio.to_thread(self.runtime.close)
        self.kube.close()
