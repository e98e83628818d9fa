"""``Reject(requeue=True)`` redelivers the same message, counted and bounded (issue 17).

On Redis and on SQLite: an acks-late task that rejects with requeue sees the next delivery
marked ``redelivered``; one that always rejects is dead-lettered after ``task_max_deliveries``
deliveries instead of looping for ever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac.errors import Reject
from helpers import wait_for


@pytest.fixture(params=["redis", "sqlite"])
def app_for(request: Any, make_app: Any, tmp_path: Path) -> Any:
    def make() -> Any:
        if request.param == "redis":
            return make_app(task_max_deliveries=3)
        return make_app(broker=f"sqlite:///{tmp_path / 'reject.db'}", task_max_deliveries=3)
    return make


def test_reject_requeue_redelivers_the_same_message(app_for: Any, worker: Any) -> None:
    app = app_for()
    seen: list[tuple[bool, int]] = []

    @app.task(bind=True, acks_late=True)
    def picky(self: Any) -> str:
        info = self.request.delivery_info
        seen.append((info["redelivered"], info["deliveries"]))
        if len(seen) < 2:
            raise Reject("not yet", requeue=True)
        return "ok"

    worker(app, concurrency=1)
    res = picky.delay()
    assert res.get(timeout=15) == "ok"
    assert seen == [(False, 1), (True, 2)]


def test_always_rejecting_is_dead_lettered_after_max_deliveries(app_for: Any, worker: Any) -> None:
    app = app_for()
    runs: list[int] = []

    @app.task(bind=True, acks_late=True)
    def never(self: Any) -> None:
        runs.append(self.request.delivery_info["deliveries"])
        raise Reject("never", requeue=True)

    worker(app, concurrency=1)
    never.delay()
    queue = app.conf.task_default_queue
    wait_for(lambda: app.broker.queue_stats(queue).dead == 1, 20, what="dead-lettered")
    assert runs == [1, 2, 3]  # task_max_deliveries=3, then no more deliveries


def test_early_acked_reject_requeue_is_bounded_too(app_for: Any, worker: Any) -> None:
    app = app_for()
    runs: list[int] = []

    @app.task(acks_late=False)
    def never() -> None:
        runs.append(1)
        raise Reject("never", requeue=True)

    worker(app, concurrency=1)
    res = never.delay()
    queue = app.conf.task_default_queue
    wait_for(lambda: app.broker.queue_stats(queue).dead == 1, 20, what="dead-lettered")
    assert len(runs) == 3 and res.state == "REJECTED"
