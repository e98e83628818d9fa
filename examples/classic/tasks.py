"""The classic example, as a Celery user writes it."""

from __future__ import annotations

import celeryconfig

from celeriac import Celeriac

app = Celeriac("tasks", config_source=celeryconfig)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def mul(x: int, y: int) -> int:
    return x * y


@app.task
def xsum(numbers: list[int]) -> int:
    return sum(numbers)
