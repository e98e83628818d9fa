"""The eventlet pool (``-P eventlet``): hundreds of green threads for I/O-bound tasks.

Why it exists: Celery projects started with ``-P eventlet -c 500`` keep their command. As
the gevent pool: the ``celeriac`` command monkey-patches the process at start (before the
app is imported), so the threads pool's machinery runs on green threads unchanged, with
the same leases, heartbeats, drain, acks and guarantees; time limits and
``revoke(terminate=True)`` throw the exception into the task's green thread at its next
switch (``celeriac.worker.limits``). eventlet itself is in maintenance mode (its
maintainers advise against new use): prefer ``-P gevent`` or ``-P asyncio`` for new code.
What it must not do: run in a process that was not patched (it refuses).
"""

from __future__ import annotations

from celeriac.errors import ConfigurationError
from celeriac.worker.pools.threads import ThreadPool


def ensure_patched() -> None:
    """Refuse to run unpatched: blocking sockets would stall every green thread."""
    try:
        from eventlet import patcher
    except ImportError:
        raise ConfigurationError("the eventlet pool needs eventlet: pip install 'celeriac[eventlet]'") from None
    if not patcher.is_monkey_patched("socket"):
        raise ConfigurationError("the eventlet pool needs a monkey-patched process: start it with "
                                 "`celeriac worker -P eventlet` (or call eventlet.monkey_patch() first)")


class EventletPool(ThreadPool):
    """The threads pool on green threads (threading is eventlet's once patched)."""

    def __init__(self, concurrency: int, prefetch_multiplier: int = 1) -> None:
        ensure_patched()
        from celeriac.worker import limits

        limits.use_eventlet()
        super().__init__(concurrency, prefetch_multiplier)
