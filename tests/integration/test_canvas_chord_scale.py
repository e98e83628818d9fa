"""A chord of 1,000 header tasks: the callback fires once with 1,000 ordered results."""

from __future__ import annotations

import time
from typing import Any

from celeriac.canvas import chord


def test_chord_of_1000(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task
    def ident(i: int) -> int:
        return i

    @app.task
    def collect(values: list[int]) -> list[int]:
        app.backend.client.incr("callback-runs")
        return values

    worker(app, concurrency=4)
    res = chord((ident.s(i) for i in range(1000)), collect.s()).apply_async()
    assert res.get(timeout=90) == list(range(1000))
    time.sleep(0.3)
    assert int(app.backend.client.get("callback-runs")) == 1
    assert res.parent.completed_count() == 1000
