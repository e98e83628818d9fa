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


def test_celery_shaped_canvas_on_embedded_transports(embedded_app: Any, worker: Any) -> None:
    """Issue 17's canvas on sqlite:// and memory://: calling a canvas, replace, nested
    headers, ResultSet, children, ignored results and bytes in a chord callback."""
    from celeriac import ResultSet

    app = embedded_app

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def ident(x: Any) -> Any:
        return x

    @app.task(bind=True)
    def swap(self: Any, x: int) -> Any:
        return self.replace(add.s(x, 100) | add.s(1))

    @app.task
    def fan(n: int) -> int:
        for i in range(n):
            add.delay(i, i)
        return n

    @app.task(ignore_result=True)
    def quiet() -> None:
        return None

    @app.task
    def raw(i: int) -> bytes:
        return b"\xff" + bytes([i])

    w = worker(app, concurrency=2)
    try:
        assert (add.s(1, 1) | add.s(10))().get(timeout=20) == 12
        assert chain(swap.s(1), add.s(1000))().get(timeout=20) == 1102
        assert chord([group(add.s(1, 1), swap.s(2)), add.s(3, 3)], ident.s()).apply_async().get(timeout=20) == [
            [2, 103], 6]
        rs = ResultSet([add.delay(1, 2), add.delay(3, 4)], app=app)
        assert rs.get(timeout=20) == [3, 7] and rs.completed_count() == 2
        r = fan.delay(2)
        assert r.get(timeout=20) == 2 and sorted(v for _, v in r.collect(timeout=20)) == [0, 2, 2]
        assert quiet.delay().get() is None
        assert chord(raw.s(i) for i in range(2))(ident.s()).get(timeout=20) == [b"\xff\x00", b"\xff\x01"]
    finally:
        w.stop()
