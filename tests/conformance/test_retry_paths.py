"""A retry means the same on a worker and in an eager call (``celeriac.retrying``).

``retry(args=[])`` replaces the call's arguments with none (as Celery does); the eager
path once kept the old ones because it tested the override for truth, not for None.
"""

from __future__ import annotations

from typing import Any

from celeriac import states
from helpers import wait_for


def _define(app: Any) -> tuple[Any, Any]:
    @app.task(name="retry.args", bind=True, max_retries=3)
    def replaced(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.request.retries == 0:
            raise self.retry(args=[], kwargs={}, countdown=0)
        return [list(args), kwargs, self.request.retries]

    @app.task(name="retry.kept", bind=True, max_retries=3)
    def kept(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.request.retries == 0:
            raise self.retry(countdown=0)
        return [list(args), kwargs, self.request.retries]

    return replaced, kept


def test_retry_with_empty_args_runs_with_none_on_a_worker_and_eagerly(make_conf_app: Any, worker: Any) -> None:
    app = make_conf_app("retry-paths")
    replaced, kept = _define(app)
    worker(app)
    on_worker = [replaced.delay(1, 2, x=3), kept.delay(1, 2, x=3)]
    assert wait_for(lambda: all(r.state == states.SUCCESS for r in on_worker), timeout=30)
    eager = [replaced.apply((1, 2), {"x": 3}), kept.apply((1, 2), {"x": 3})]
    expected = [[[], {}, 1], [[1, 2], {"x": 3}, 1]]
    assert [r.get(timeout=10) for r in on_worker] == expected
    assert [r.get() for r in eager] == expected


def test_autoretry_stops_at_retry_kwargs_max_retries_eagerly_as_on_a_worker(make_conf_app: Any,
                                                                           worker: Any) -> None:
    app = make_conf_app("retry-auto")
    calls: dict[str, int] = {"worker": 0, "eager": 0}

    @app.task(name="retry.auto", autoretry_for=(OSError,), retry_kwargs={"max_retries": 2, "countdown": 0},
              max_retries=10)
    def auto(where: str) -> None:
        calls[where] += 1
        raise OSError(where)

    worker(app)
    r = auto.delay("worker")
    assert wait_for(lambda: r.state == states.FAILURE, timeout=30)
    e = auto.apply(("eager",))
    assert e.state == states.FAILURE
    assert calls == {"worker": 3, "eager": 3}  # the first call and 2 retries, on both paths
