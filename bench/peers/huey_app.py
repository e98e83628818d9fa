"""huey instance and tasks for the benchmark (worker: ``huey_consumer huey_app.huey``).

Why it exists: the consumer imports the ``huey`` object by path and the producer calls
the same task functions. ``RedisHuey`` with ``blocking=True`` (BRPOP fetch) and
``notify_result=True`` (BLPOP result wait instead of polling). huey stores a result only
when the task returns something other than ``None``: ``noop`` returns 0 (stored),
``noop_nr`` returns ``None`` (not stored).
"""

from __future__ import annotations

import os
import time

import benchprogress
from huey import RedisHuey

REDIS_URL = os.environ[benchprogress.URL_ENV]

huey = RedisHuey("bench", url=REDIS_URL, blocking=True, notify_result=True)


@huey.task()
def noop() -> int:
    """No-op whose result (0) is stored."""
    benchprogress.record(time.time())
    return 0


@huey.task()
def noop_nr() -> None:
    """No-op; returns None so huey stores nothing."""
    benchprogress.record(time.time())


@huey.task()
def sleep_ms(ms: int) -> None:
    """Sleep ``ms`` milliseconds (the mixed scenario)."""
    started = time.time()
    time.sleep(ms / 1000.0)
    benchprogress.record(started)
