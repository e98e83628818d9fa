"""celeriac app and tasks for the benchmark (worker: ``celeriac -A celeriac_app worker``).

Why it exists: the producer and the workers must import the same task names; both load
this module (workers via ``PYTHONPATH=bench/peers:runtime``). Broker and results are the
benchmark's private Redis from ``BENCH_REDIS_URL``; settings are celeriac's defaults
(late ack, events on, JSON), with ``CELERIAC_TASK_PUBLISH_BUFFER=1`` switching the
producer to the buffered mode for the ``celeriac-buffered`` adapter.
"""

from __future__ import annotations

import asyncio
import os
import time

import benchprogress

from celeriac import Celeriac

REDIS_URL = os.environ[benchprogress.URL_ENV]

app = Celeriac("celeriac_app", broker=REDIS_URL, result_expires=3600)


@app.task(name="bench.noop")
def noop() -> None:
    """No-op whose (``None``) result is stored."""
    benchprogress.record(time.time())


@app.task(name="bench.noop_nr", ignore_result=True)
def noop_nr() -> None:
    """No-op with ``ignore_result=True``."""
    benchprogress.record(time.time())


if os.environ.get("BENCH_ASYNC_SLEEP") == "1":
    # asyncio workers: the same task name, natively async.
    @app.task(name="bench.sleep_ms", ignore_result=True)
    async def sleep_ms(ms: int) -> None:
        """Sleep ``ms`` milliseconds on the event loop (the mixed scenario, asyncio pool)."""
        started = time.time()
        await asyncio.sleep(ms / 1000.0)
        benchprogress.record(started)

else:

    @app.task(name="bench.sleep_ms", ignore_result=True)
    def sleep_ms(ms: int) -> None:
        """Sleep ``ms`` milliseconds (the mixed scenario, thread pools)."""
        started = time.time()
        time.sleep(ms / 1000.0)
        benchprogress.record(started)
