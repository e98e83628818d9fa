"""What only the in-process paths do: ``memory://`` limits and Celery's eager mode."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from celeriac import Celeriac, states
from celeriac.backends import create
from celeriac.backends.base import Outgoing
from celeriac.config import Settings
from celeriac.errors import BrokerError, ConfigurationError
from celeriac.result import EagerResult


def _use_after_fork(backend: Any, conn: Any) -> None:
    try:
        backend.publish([Outgoing("q", "t", "application/json", b"{}")])
    except BrokerError as exc:
        conn.send(str(exc))
    else:
        conn.send("no error")


def test_memory_cannot_cross_fork() -> None:
    backend = create("memory://fork-check", Settings())
    try:
        backend.publish([Outgoing("q", "t0", "application/json", b"{}")])
        parent, child = multiprocessing.get_context("fork").Pipe()
        proc = multiprocessing.get_context("fork").Process(target=_use_after_fork, args=(backend, child))
        proc.start()
        message = parent.recv()
        proc.join(10)
        parent.close()
        child.close()
        assert "cannot cross fork()" in message
        assert backend.queue_stats("q").ready == 1
    finally:
        backend.close()


def test_memory_is_shared_by_url_within_a_process() -> None:
    a = create("memory://shared", Settings())
    b = create("memory://shared", Settings())
    other = create("memory://other", Settings())
    try:
        a.publish([Outgoing("q", "t0", "application/json", b"{}")])
        assert b.queue_stats("q").ready == 1
        assert other.queue_stats("q").ready == 0
    finally:
        for x in (a, b, other):
            x.close()
    with pytest.raises(BrokerError, match="closed"):
        a.publish([Outgoing("q", "t1", "application/json", b"{}")])


def test_bad_sqlite_urls_are_named() -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ConfigurationError, match="broker_url"):
            create(url, Settings())


def _eager_app(**settings: Any) -> tuple[Any, Any, Any]:
    app = Celeriac("eager", broker="memory://eager", task_always_eager=True, set_as_current=False, **settings)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def boom() -> None:
        raise KeyError("missing")

    return app, add, boom


def test_always_eager_runs_inline_without_a_broker() -> None:
    app, add, boom = _eager_app()
    r = add.delay(2, 3)
    assert isinstance(r, EagerResult)
    assert (r.get(), r.state, r.successful()) == (5, states.SUCCESS, True)
    failed = boom.delay()
    assert failed.state == states.FAILURE and isinstance(failed.result, KeyError)
    with pytest.raises(KeyError):
        failed.get()
    assert failed.get(propagate=False).__class__ is KeyError
    assert app._broker is None, "eager calls never open the broker"


def test_eager_propagates_raises_at_the_call() -> None:
    _app, _add, boom = _eager_app(task_eager_propagates=True)
    with pytest.raises(KeyError):
        boom.delay()
