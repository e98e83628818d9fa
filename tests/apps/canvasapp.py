"""Tasks for canvas tests that run a real ``celeriac worker`` subprocess.

The broker comes from ``CELERIAC_BROKER_URL``. Executions are counted in Redis (INCR), so a
test can tell how many times a header task or a chord callback really ran.
"""

from __future__ import annotations

import time
from typing import Any

from celeriac import Celeriac

app = Celeriac("canvasapp")


def _redis() -> Any:
    return app.backend.client  # type: ignore[attr-defined]


@app.task
def slow(i: int, seconds: float) -> int:
    _redis().incr(f"canvas:runs:{i}")
    time.sleep(seconds)
    return i


@app.task
def collect(values: list[int]) -> int:
    """A chord callback: counts its executions and records what it got."""
    _redis().incr("canvas:callback:runs")
    _redis().set("canvas:callback:values", ",".join(map(str, values)))
    return sum(values)


@app.task
def noop(i: int = 0) -> int:
    return i


@app.task
def count(values: list[Any]) -> int:
    return len(values)
