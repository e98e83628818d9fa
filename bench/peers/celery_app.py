"""Celery app and tasks for the benchmark (worker: ``celery -A celery_app worker``).

Why it exists: Celery's producer and its workers must import the same task names; both
load this module (workers via ``PYTHONPATH=bench/peers``). Broker and result backend are
the benchmark's private Redis from ``BENCH_REDIS_URL``. Settings are Celery's defaults
(prefetch multiplier 4, early ack, JSON) except what keeps the run quiet and repeatable.
"""

from __future__ import annotations

import os
import time

import benchprogress
from celery import Celery

REDIS_URL = os.environ[benchprogress.URL_ENV]

app = Celery("celery_app", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    worker_redirect_stdouts=False,
)


@app.task(name="bench.noop")
def noop() -> None:
    """No-op whose (``None``) result is stored in the backend."""
    benchprogress.record(time.time())


@app.task(name="bench.noop_nr", ignore_result=True)
def noop_nr() -> None:
    """No-op with ``ignore_result=True``."""
    benchprogress.record(time.time())


@app.task(name="bench.sleep_ms", ignore_result=True)
def sleep_ms(ms: int) -> None:
    """Sleep ``ms`` milliseconds (the mixed scenario)."""
    started = time.time()
    time.sleep(ms / 1000.0)
    benchprogress.record(started)
