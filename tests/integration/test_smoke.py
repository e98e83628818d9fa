from __future__ import annotations

from typing import Any


def test_delay_get_with_each_pool(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    for pool in ("threads", "solo", "asyncio"):
        w = worker(app, pool=pool)
        assert add.delay(2, 3).get(timeout=10) == 5
        w.stop()
