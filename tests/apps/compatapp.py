"""Tasks for the Celery-compatibility tests that run a real ``celeriac worker``
(inspect replies, fair scheduling, the gevent pool)."""

from __future__ import annotations

import time

from celeriac import Celeriac

app = Celeriac("compatapp")


@app.task(name="compat.add", rate_limit="100/s")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="compat.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="compat.when")
def when(seconds: float) -> list[float]:
    """Sleep; return when it started and ended (epoch seconds)."""
    started = time.time()
    time.sleep(seconds)
    return [started, time.time()]
