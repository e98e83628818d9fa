"""End to end through a real consumer (threads pool, in this process), on every transport."""

from __future__ import annotations

import time
from typing import Any

import pytest

from celeriac import states
from celeriac.errors import TaskRevokedError


def _tasks(app: Any) -> dict[str, Any]:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def boom(message: str) -> None:
        raise ValueError(message)

    @app.task(bind=True, max_retries=3)
    def flaky(self: Any, succeed_at: int) -> int:
        if self.request.retries < succeed_at:
            raise self.retry(countdown=0.05)
        return int(self.request.retries)

    return {"add": add, "boom": boom, "flaky": flaky}


def test_delay_get_threads_pool(make_conf_app: Any, worker: Any) -> None:
    app = make_conf_app()
    t = _tasks(app)
    worker(app, pool="threads", concurrency=2)
    r = t["add"].delay(2, 3)
    assert r.get(timeout=20) == 5
    assert r.state == states.SUCCESS and r.date_done is not None
    many = [t["add"].delay(i, i) for i in range(60)]
    assert [m.get(timeout=30) for m in many] == [2 * i for i in range(60)]


def test_failure_retry_countdown_and_revoke(make_conf_app: Any, worker: Any) -> None:
    app = make_conf_app()
    t = _tasks(app)
    worker(app, pool="threads", concurrency=2)
    failed = t["boom"].delay("no luck")
    with pytest.raises(ValueError, match="no luck"):
        failed.get(timeout=20)
    assert failed.state == states.FAILURE and "ValueError" in (failed.traceback or "")
    assert t["flaky"].delay(2).get(timeout=20) == 2
    later = t["add"].apply_async((1, 1), countdown=0.5)
    assert later.get(timeout=20) == 2
    revoked = t["add"].apply_async((5, 5), countdown=1.0)
    revoked.revoke()
    with pytest.raises(TaskRevokedError):
        revoked.get(timeout=20)
    assert revoked.state == states.REVOKED


def test_worker_stop_hands_back_prefetched(make_conf_app: Any, worker: Any) -> None:
    app = make_conf_app()
    t = _tasks(app)
    w = worker(app, pool="threads", concurrency=1)
    assert t["add"].delay(1, 2).get(timeout=20) == 3
    w.stop()
    pending = [t["add"].delay(i, 1) for i in range(5)]
    stats = app.broker.queue_stats("default")
    assert stats.ready == 5 and stats.in_flight == 0
    worker(app, pool="threads", concurrency=2)
    assert [p.get(timeout=20) for p in pending] == [i + 1 for i in range(5)]
    wait_empty = time.monotonic() + 10
    while app.broker.queue_stats("default").depth and time.monotonic() < wait_empty:
        time.sleep(0.05)
    assert app.broker.queue_stats("default").depth == 0


def test_canvas_basics(make_conf_app: Any, worker: Any) -> None:
    canvas = pytest.importorskip("celeriac.canvas")
    if not hasattr(canvas, "chain") or not hasattr(canvas, "group"):
        pytest.skip("celeriac.canvas has no chain/group yet")
    app = make_conf_app()
    t = _tasks(app)
    worker(app, pool="threads", concurrency=2)
    assert canvas.chain(t["add"].s(2, 2), t["add"].s(10)).apply_async().get(timeout=20) == 14
    assert canvas.group(t["add"].s(i, i) for i in range(5)).apply_async().get(timeout=20) == [0, 2, 4, 6, 8]
    if hasattr(canvas, "chord"):
        @app.task
        def total(values: list[int]) -> int:
            return sum(values)

        assert canvas.chord([t["add"].s(i, i) for i in range(4)], total.s()).apply_async().get(timeout=20) == 12
