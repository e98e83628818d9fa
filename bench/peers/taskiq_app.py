"""taskiq broker, result backend and tasks for the benchmark (worker: ``taskiq worker taskiq_app:broker``).

Why it exists: taskiq's worker imports the broker by path and registers the tasks found
in this module. Broker: taskiq-redis ``ListQueueBroker`` (LPUSH/BRPOP, the simple one),
results in ``RedisAsyncResultBackend`` (1 h expiry). taskiq stores every result unless
the task raises ``NoResultError``, which the no-result tasks do (taskiq then logs a
warning per task, so its workers run with ``--log-level ERROR``).
"""

from __future__ import annotations

import asyncio
import os
import time

import benchprogress
from taskiq import NoResultError
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

REDIS_URL = os.environ[benchprogress.URL_ENV]

result_backend: RedisAsyncResultBackend[object] = RedisAsyncResultBackend(redis_url=REDIS_URL, result_ex_time=3600)
broker = ListQueueBroker(url=REDIS_URL, queue_name="bench").with_result_backend(result_backend)


@broker.task(task_name="noop")
async def noop() -> None:
    """No-op whose result is stored."""
    benchprogress.record(time.time())


@broker.task(task_name="noop_nr")
async def noop_nr() -> None:
    """No-op that skips result storage."""
    benchprogress.record(time.time())
    raise NoResultError


@broker.task(task_name="sleep_ms")
async def sleep_ms(ms: int) -> None:
    """``asyncio.sleep`` for ``ms`` milliseconds (the mixed scenario); no result stored."""
    started = time.time()
    await asyncio.sleep(ms / 1000.0)
    benchprogress.record(started)
    raise NoResultError
