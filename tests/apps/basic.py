"""Tasks used by tests that run a real ``celeriac worker`` subprocess.

The broker comes from ``CELERIAC_BROKER_URL`` (set by the ``cli_worker`` fixture).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celeriac import Celeriac

app = Celeriac("basic")
app.conf.task_queues = {"default": {}, "add": {"routing_key": "add"}}


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def sleep(seconds: float, tag: Any = None) -> Any:
    time.sleep(seconds)
    marker = os.environ.get("CELERIAC_TEST_MARKER_DIR")
    if marker and tag is not None:
        with open(os.path.join(marker, f"{tag}.{os.getpid()}.{time.monotonic_ns()}"), "w"):
            pass
    return tag


@app.task
async def async_add(x: int, y: int) -> int:
    return x + y


@app.task
def pid() -> int:
    return os.getpid()


@app.task
def fail(message: str) -> None:
    raise ValueError(message)


@app.task
async def async_sleep(seconds: float) -> float:
    import asyncio

    await asyncio.sleep(seconds)
    return seconds
