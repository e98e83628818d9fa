"""Celery task options real code sets (issue 17): pydantic=True, acks_on_failure_or_timeout,
store_errors_even_if_ignored, and Reject(requeue=False); on a real redis-server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from celeriac.errors import Reject, TaskError
from helpers import wait_for


class Order(BaseModel):
    item: str
    qty: int


class Receipt(BaseModel):
    item: str
    total: float


def test_pydantic_validates_arguments_and_dumps_the_result(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(pydantic=True)
    def buy(order: Order, discount: Order | None = None, note: str = "") -> Receipt:
        assert isinstance(order, Order)
        return Receipt(item=order.item, total=order.qty * 2.5)

    @app.task(pydantic=True, bind=True)
    async def buy_async(self: Any, order: Order) -> Receipt:
        return Receipt(item=order.item, total=float(order.qty))

    worker(app, concurrency=1)
    assert buy.delay({"item": "pen", "qty": 4}).get(timeout=10) == {"item": "pen", "total": 10.0}
    # pydantic's ValidationError cannot be rebuilt from its message: it comes back as a
    # TaskError naming it
    with pytest.raises(TaskError, match="ValidationError"):
        buy.delay({"item": "pen", "qty": "many"}).get(timeout=10)
    with pytest.raises(ValidationError):
        buy({"item": "pen", "qty": "many"})
    assert buy({"item": "cup", "qty": 1}) == {"item": "cup", "total": 2.5}  # called directly, too
    assert buy_async.apply(({"item": "a", "qty": 3},)).get() == {"item": "a", "total": 3.0}


def test_acks_on_failure_or_timeout_false_dead_letters_a_failure(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(acks_late=True, acks_on_failure_or_timeout=False)
    def fails() -> None:
        raise ValueError("x")

    @app.task(acks_late=True, store_errors_even_if_ignored=True, ignore_result=True)
    def fails_quietly() -> None:
        raise ValueError("y")

    worker(app, concurrency=1)
    r = fails.delay()
    with pytest.raises(ValueError):
        r.get(timeout=10)
    queue = app.conf.task_default_queue
    wait_for(lambda: app.broker.queue_stats(queue).dead == 1, 10, what="dead-lettered")
    q = fails_quietly.delay()
    wait_for(lambda: app.backend.get_result(q.id) is not None, 10, what="failure stored")
    assert app.backend.get_result(q.id).status == "FAILURE"


def test_reject_without_requeue_records_rejected(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task
    def refuse() -> None:
        raise Reject("bad input", requeue=False)

    worker(app, concurrency=1)
    r = refuse.delay()
    wait_for(lambda: r.state == "REJECTED", 10, what="REJECTED recorded")
    assert app.broker.queue_stats(app.conf.task_default_queue).dead == 1


def test_typing_track_started_and_expires_per_task(make_app: Any, worker: Any) -> None:
    import time

    app = make_app()
    started = []

    @app.task(track_started=True, bind=True)
    def slow(self: Any) -> str:
        started.append(self.request.id)
        time.sleep(0.5)
        return "done"

    @app.task(expires=0.2)
    def stale() -> str:
        return "ran"

    @app.task(typing=False)
    def loose(x: int) -> Any:
        return x

    @app.task
    def strict(x: int) -> int:
        return x

    with pytest.raises(TypeError):  # typing=True (the default) checks arguments at call time
        strict.delay(1, 2)
    unchecked = loose.delay(1, 2)  # typing=False publishes; the worker's call then fails
    expired = stale.delay()
    time.sleep(0.4)  # the task's own expires passes before any worker runs it
    worker(app, concurrency=2)
    r = slow.delay()
    wait_for(lambda: r.state == "STARTED", 10, what="STARTED recorded")
    assert r.get(timeout=10) == "done"
    with pytest.raises(Exception, match=r"expired|revoked|REVOKED"):
        expired.get(timeout=10)
    with pytest.raises(TypeError):
        unchecked.get(timeout=10)
