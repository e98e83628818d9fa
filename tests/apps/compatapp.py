"""Tasks for the Celery-compatibility tests that run a real ``celeriac worker``
(inspect replies, fair scheduling, the gevent pool)."""

from __future__ import annotations

import os
import time
from pathlib import Path

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


@app.task(name="compat.tick")
def tick() -> None:
    """Fired by the beat of ``celeriac worker -B``: leaves a file in ``$COMPAT_TICK_DIR``."""
    root = os.environ.get("COMPAT_TICK_DIR")
    if root:
        Path(root, f"tick.{time.monotonic_ns()}").write_text("")


if os.environ.get("COMPAT_TICK_DIR"):
    app.conf.beat_schedule = {"tick": {"task": "compat.tick", "schedule": 0.5}}


@app.task(name="compat.asleep")
async def asleep(seconds: float) -> float:
    """The asyncio pool's form of ``compat.sleep`` (for the gevent vs asyncio figures)."""
    import asyncio

    await asyncio.sleep(seconds)
    return seconds


@app.task(name="compat.limited", soft_time_limit=0.5)
def limited(seconds: float) -> str:
    from celeriac.errors import SoftTimeLimitExceeded

    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        return "soft limit"
    return "no limit"


@app.task(name="compat.awhen")
async def awhen(seconds: float) -> list[float]:
    """``compat.when`` for the asyncio pool."""
    import asyncio

    started = time.time()
    await asyncio.sleep(seconds)
    return [started, time.time()]
