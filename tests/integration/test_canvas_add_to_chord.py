"""``self.add_to_chord(sig)`` (Celery 5.5) on Redis, sqlite:// and memory:// with a real
worker: a header task adds members; the chord waits for them, their results come after the
header's own in the callback's list, and the callback runs once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celeriac
from celeriac.canvas import chord


@pytest.fixture(params=["redis", "sqlite", "memory"])
def any_app(request: Any, tmp_path: Path) -> Iterator[Any]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/chord.db"
    else:
        url = "memory://"
    app = Celeriac(f"add-to-chord-{request.param}", broker=url)
    yield app
    app.close()


def test_a_header_task_adds_two_members(any_app: Any, worker: Any) -> None:
    app = any_app
    calls: list[list[Any]] = []
    added: list[Any] = []

    @app.task
    def slow(x: int) -> int:
        import time

        time.sleep(0.3)  # the added members finish before or after the header's own: either way
        return x * 10

    @app.task(bind=True)
    def grow(self: Any, x: int) -> int:
        added.append(self.add_to_chord(slow.s(x + 1)))
        lazy = self.add_to_chord(slow.s(x + 2), lazy=True)  # counted now, published by us
        added.append(lazy.delay())
        return x

    @app.task
    def plain(x: int) -> int:
        return x

    @app.task
    def collect(values: list[int]) -> list[int]:
        calls.append(values)
        return values

    w = worker(app, concurrency=4)
    try:
        res = chord([plain.s(1), grow.s(5), plain.s(3)], collect.s()).apply_async()
        # the header's three in order, then the two added (in the order they were added)
        assert res.get(timeout=30) == [1, 5, 3, 60, 70]
        assert [r.get(timeout=10) for r in added] == [60, 70]
        assert res.parent.get(timeout=10) == [1, 5, 3]  # the header as published
        # the callback ran once, with every result
        assert calls == [[1, 5, 3, 60, 70]]
    finally:
        w.stop()
    assert calls == [[1, 5, 3, 60, 70]]  # no second run after the worker drained


def test_add_to_chord_outside_a_chord_raises(any_app: Any, worker: Any) -> None:
    app = any_app

    @app.task(bind=True)
    def lonely(self: Any) -> str:
        try:
            self.add_to_chord(lonely.s())
        except ValueError as exc:
            return str(exc)
        return "no error"

    w = worker(app, concurrency=1)
    try:
        assert lonely.delay().get(timeout=20) == "Current task is not member of any chord"
        assert lonely.apply().get() == "Current task is not member of any chord"  # eagerly either
    finally:
        w.stop()
