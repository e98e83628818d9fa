"""Tasks for the observability tests (subprocess workers, Prometheus scrape, benchmark)."""

from __future__ import annotations

import time

from celeriac import Celeriac

app = Celeriac("observeapp")


@app.task(name="obs.noop")
def noop() -> None:
    return None


@app.task(name="obs.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="obs.fail")
def fail() -> None:
    raise ValueError("boom")


@app.task(name="obs.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
