"""The gevent pool (``-P gevent``): hundreds or thousands of greenlets for I/O-bound tasks.

Why it exists: Celery users run I/O-bound work (HTTP calls, database waits) on gevent with
``-c 1000``. The process is monkey-patched at start by the ``celeriac`` command (before the
app is imported), so the threads pool's machinery runs on greenlets unchanged: the same
leases, heartbeats, drain on SIGTERM, acks and guarantees as the threads pool. Time limits
and ``revoke(terminate=True)`` reach a task by killing its greenlet with the exception
(``celeriac.worker.limits``), raised at its next cooperative switch (a CPU-bound loop that
never yields cannot be interrupted, as in Celery's gevent pool). What it must not do: run
in a process that was not patched (it refuses).
"""

from __future__ import annotations

from celeriac.errors import ConfigurationError
from celeriac.worker.pools.threads import ThreadPool

GEVENT_DEFAULT_CONCURRENCY = 1000  #: greenlets at once when ``--concurrency`` is not given


def ensure_patched() -> None:
    """Refuse to run unpatched: blocking sockets would stall every greenlet."""
    try:
        from gevent import monkey
    except ImportError:
        raise ConfigurationError("the gevent pool needs gevent: pip install 'celeriac[gevent]'") from None
    if not monkey.is_module_patched("socket"):
        raise ConfigurationError("the gevent pool needs a monkey-patched process: start it with "
                                 "`celeriac worker -P gevent` (or call gevent.monkey.patch_all() first)")


class GeventPool(ThreadPool):
    """The threads pool on greenlets (threading is gevent's once patched)."""

    def __init__(self, concurrency: int, prefetch_multiplier: int = 1) -> None:
        ensure_patched()
        from celeriac.worker import limits

        limits.use_greenlets()
        super().__init__(concurrency, prefetch_multiplier)
