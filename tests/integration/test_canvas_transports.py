"""The canvas on the embedded transports (sqlite://, memory://): chain, group, chord, save."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celeriac
from celeriac.canvas import GroupResult, chain, chord, group
from celeriac.errors import ChordError


@pytest.fixture(params=["sqlite", "memory"])
def embedded_app(request: Any, tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path}/canvas.db" if request.param == "sqlite" else "memory://"
    app = Celeriac("embedded", broker=url)
    yield app
    app.close()


def test_canvas_on_embedded_transports(embedded_app: Any, worker: Any) -> None:
    app = embedded_app

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def tsum(values: list[int]) -> int:
        return sum(values)

    @app.task
    def boom() -> None:
        raise ValueError("boom")

    w = worker(app, concurrency=2)
    try:
        assert chain(add.s(1, 1), add.s(2)).apply_async().get(timeout=20) == 4
        g = group(add.s(i, i) for i in range(5)).apply_async().save()
        restored = GroupResult.restore(g.id, app=app)
        assert restored is not None and restored.get(timeout=20) == [0, 2, 4, 6, 8]
        assert chord((add.s(i, i) for i in range(30)), tsum.s()).apply_async().get(timeout=30) == 870
        with pytest.raises(ChordError, match="ValueError"):
            chord([add.s(1, 1), boom.s()], tsum.s()).apply_async().get(timeout=20)
    finally:
        w.stop()
