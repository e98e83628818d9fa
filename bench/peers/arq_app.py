"""arq job coroutines and worker settings for the benchmark (worker: ``arq arq_app.WorkerSettings``).

Why it exists: arq's worker imports ``WorkerSettings`` by dotted path; the producer only
needs the function names and the Redis URL. Settings: ``max_jobs=8`` (two worker processes
x 8 = the 2x8 shape of the other systems); ``poll_delay`` 2 ms instead of the 0.5 s
default, which would make arq's latency meaningless (arq polls a sorted set; it has no
blocking fetch). arq logs one INFO line per job start and end; ``on_startup`` lowers its
logger to WARNING, as every system runs without per-task log lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, ClassVar

import benchprogress
from arq.connections import RedisSettings
from arq.worker import func

REDIS_URL = os.environ[benchprogress.URL_ENV]
#: arq worker poll interval (seconds)
POLL_DELAY_S = 0.002


async def noop(ctx: dict[str, Any]) -> None:
    """No-op whose result is kept (arq's default ``keep_result`` of 3600 s)."""
    benchprogress.record(time.time())


async def noop_nr(ctx: dict[str, Any]) -> None:
    """No-op registered with ``keep_result=0``."""
    benchprogress.record(time.time())


async def sleep_ms(ctx: dict[str, Any], ms: int) -> None:
    """``asyncio.sleep`` for ``ms`` milliseconds (the mixed scenario)."""
    started = time.time()
    await asyncio.sleep(ms / 1000.0)
    benchprogress.record(started)


async def _quiet_logs(ctx: dict[str, Any]) -> None:
    logging.getLogger("arq").setLevel(logging.WARNING)


class WorkerSettings:
    """What ``arq arq_app.WorkerSettings`` runs."""

    functions: ClassVar[list[Any]] = [func(noop, name="noop"), func(noop_nr, name="noop_nr", keep_result=0),
                 func(sleep_ms, name="sleep_ms", keep_result=0)]
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    max_jobs = 8
    poll_delay = POLL_DELAY_S
    on_startup = _quiet_logs
