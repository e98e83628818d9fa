"""RQ job functions for the benchmark (worker: ``rq worker``, jobs referenced by path).

Why it exists: RQ imports job functions by dotted path in the worker, so they must live
in a module both the producer and the workers import (``PYTHONPATH=bench/peers``). RQ
has no per-task "ignore result" flag; the producer passes ``result_ttl=0`` instead.
"""

from __future__ import annotations

import time

import benchprogress


def noop() -> None:
    """No-op (result kept or not is decided by the producer's ``result_ttl``)."""
    benchprogress.record(time.time())


def sleep_ms(ms: int) -> None:
    """Sleep ``ms`` milliseconds (the mixed scenario)."""
    started = time.time()
    time.sleep(ms / 1000.0)
    benchprogress.record(started)
