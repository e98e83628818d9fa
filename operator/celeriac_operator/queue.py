"""The operator's only link to the celeriac runtime.

Why it exists: every runtime call is blocking (a Redis round trip), and the operator's
event loop also carries every watch stream and every handler; one slow call made on it
would stall them all. So each call here runs in a small bounded thread pool, never on the
loop, and the one call that blocks on purpose (``read_events`` with ``block_s``) gets a
thread of its own so it can never starve the others. It uses the runtime's public API
only (``celeriac.Celeriac`` methods), never a transport or a Redis client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from celeriac import Celeriac
from celeriac_operator.decide.enqueue import EnqueueRequest

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Threads for runtime calls (enqueue, lookups, revokes, schedule writes).
DEFAULT_THREADS = 4


class Runtime:
    """Async facade over one ``Celeriac`` app (the operator's broker connection)."""

    def __init__(self, app: Celeriac, *, threads: int = DEFAULT_THREADS) -> None:
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="celeriac-runtime")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="celeriac-events")

    @classmethod
    def connect(cls, broker_url: str | None = None, *, threads: int = DEFAULT_THREADS) -> Runtime:
        """An app named ``celeriac-operator``; settings from ``CELERIAC_*`` as everywhere."""
        app = Celeriac("celeriac-operator", broker=broker_url) if broker_url else Celeriac("celeriac-operator")
        return cls(app, threads=threads)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def enqueue_once(self, request: EnqueueRequest) -> bool:
        """True: enqueued now; False: this task id was enqueued before (any state)."""
        return await self._call(
            self.app.enqueue_once, request.name, request.args, request.kwargs,
            task_id=request.task_id, **request.options,
        )

    async def lookup_tasks(self, task_ids: Sequence[str]) -> Mapping[str, Any]:
        """``TaskInfo`` per id, in one round trip."""
        return await self._call(self.app.lookup_tasks, list(task_ids))

    async def revoke(self, task_ids: Sequence[str], *, terminate: bool) -> None:
        await self._call(self.app.control.revoke, list(task_ids), terminate=terminate)

    async def read_events(self, after_id: str, *, count: int, block_s: float) -> list[tuple[str, dict[str, Any]]]:
        """The next events after ``after_id``, waiting up to ``block_s`` (own thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader, lambda: self.app.read_events(after_id=after_id, count=count, block_s=block_s)
        )

    async def last_event_id(self) -> str:
        return await self._call(self.app.last_event_id)

    async def apply_schedule(self, name: str, spec: Mapping[str, Any]) -> bool:
        """Write the registry entry if it differs; True when written."""
        return await self._call(self.app.schedules.apply, name, dict(spec), source="operator")

    async def remove_schedule(self, name: str) -> bool:
        return await self._call(self.app.schedules.remove, name)

    async def get_schedule(self, name: str) -> Any | None:
        """The registry entry with its state, or None when there is none."""
        def get() -> Any | None:
            try:
                return self.app.schedules.get(name)
            except KeyError:  # ScheduleNotFound is a KeyError
                return None
        return await self._call(get)

    async def queue_stats(self, queues: Sequence[str]) -> Mapping[str, Any]:
        """``QueueStats`` per queue, in one round trip (for the WorkerPool handlers)."""
        return await self._call(self.app.queue_stats, list(queues))

    async def live_workers(self) -> list[Any]:
        """``WorkerInfo`` of every live worker (for the WorkerPool handlers)."""
        return await self._call(self.app.live_workers)

    async def ping(self) -> bool:
        """Whether the broker answers (``last_event_id`` is one cheap round trip)."""
        try:
            await self.last_event_id()
        except Exception as exc:  # any transport error means "not reachable"
            logger.warning("broker not reachable: %s", exc)
            return False
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._reader.shutdown(wait=False, cancel_futures=True)
        self.app.close()
