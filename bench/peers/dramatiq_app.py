"""Dramatiq broker, result backend and actors for the benchmark (worker: ``dramatiq dramatiq_app``).

Why it exists: Dramatiq's producer and workers must share the broker setup and actor
names; both import this module. Broker and results both use ``BENCH_REDIS_URL``.
Retries are off (``max_retries=0``) so a failure shows up as a missing task, not a delay.
"""

from __future__ import annotations

import os
import time

import benchprogress
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

REDIS_URL = os.environ[benchprogress.URL_ENV]

broker = RedisBroker(url=REDIS_URL)
result_backend = RedisBackend(url=REDIS_URL)
broker.add_middleware(Results(backend=result_backend))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop", store_results=True, max_retries=0)
def noop() -> None:
    """No-op whose result is stored by the Results middleware."""
    benchprogress.record(time.time())


@dramatiq.actor(actor_name="noop_nr", max_retries=0)
def noop_nr() -> None:
    """No-op, result not stored."""
    benchprogress.record(time.time())


@dramatiq.actor(actor_name="sleep_ms", max_retries=0)
def sleep_ms(ms: int) -> None:
    """Sleep ``ms`` milliseconds (the mixed scenario)."""
    started = time.time()
    time.sleep(ms / 1000.0)
    benchprogress.record(started)
