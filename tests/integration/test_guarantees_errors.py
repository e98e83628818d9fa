"""Error handling with Celery's semantics, against a real Redis and an in-process worker:
retry() with countdown/eta/max_retries, MaxRetriesExceededError, autoretry with backoff,
jitter and a cap, dont_autoretry_for, RETRY while waiting, FAILURE with a traceback when
exhausted, on_success/on_failure/on_retry hooks through ``base=``, ``throws=`` and the task
signals.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from typing import Any

import pytest

from celeriac import signals, states
from celeriac.errors import MaxRetriesExceededError
from celeriac.task import Task
from helpers import wait_for


class Counter:
    def __init__(self) -> None:
        self.n: dict[str, int] = {}
        self.lock = threading.Lock()

    def hit(self, key: str) -> int:
        with self.lock:
            self.n[key] = self.n.get(key, 0) + 1
            return self.n[key]

    def __getitem__(self, key: str) -> int:
        return self.n.get(key, 0)


def done(result: Any, timeout: float = 20) -> str:
    wait_for(lambda: result.state in states.READY_STATES, timeout, what=f"task {result.id} to finish")
    return str(result.state)


def test_retry_with_countdown_then_success_and_retry_state_visible(make_app: Any, worker: Any) -> None:
    app = make_app()
    calls = Counter()

    @app.task(bind=True, name="t.flaky", max_retries=5)
    def flaky(self: Task, key: str) -> int:
        n = calls.hit(key)
        if n < 3:
            raise self.retry(exc=ConnectionError(f"attempt {n}"), countdown=1.0 if n == 1 else 0.1)
        return self.request.retries

    worker(app)
    r = flaky.delay("a")
    wait_for(lambda: r.state == states.RETRY, 10, what="RETRY state while the retry waits")
    exc = r.result
    assert isinstance(exc, ConnectionError) and "attempt 1" in str(exc)
    assert done(r) == states.SUCCESS
    assert r.get(timeout=5) == 2
    assert calls["a"] == 3


def test_retry_with_eta(make_app: Any, worker: Any) -> None:
    app = make_app()
    calls = Counter()

    @app.task(bind=True, name="t.eta_retry")
    def eta_retry(self: Task) -> int:
        if calls.hit("x") == 1:
            raise self.retry(eta=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3))
        return 1

    worker(app)
    r = eta_retry.delay()
    assert done(r) == states.SUCCESS
    assert calls["x"] == 2


def test_max_retries_exceeded_without_exc_raises_max_retries_exceeded_error(make_app: Any, worker: Any) -> None:
    app = make_app()
    calls = Counter()

    @app.task(bind=True, name="t.always_retry")
    def always_retry(self: Task) -> None:
        calls.hit("x")
        raise self.retry(countdown=0.05, max_retries=2)

    worker(app)
    r = always_retry.delay()
    assert done(r) == states.FAILURE
    assert isinstance(r.result, MaxRetriesExceededError)
    assert r.traceback and "MaxRetriesExceededError" in r.traceback
    assert calls["x"] == 3  # the first run and two retries


def test_retry_exhausted_with_exc_fails_with_that_exception(make_app: Any, worker: Any) -> None:
    app = make_app()
    calls = Counter()

    @app.task(bind=True, name="t.retry_exc", max_retries=1)
    def retry_exc(self: Task) -> None:
        n = calls.hit("x")
        raise self.retry(exc=KeyError(f"missing {n}"), countdown=0.05)

    worker(app)
    r = retry_exc.delay()
    assert done(r) == states.FAILURE
    assert isinstance(r.result, KeyError)
    assert "missing 2" in str(r.result)
    assert r.traceback and "KeyError" in r.traceback
    assert calls["x"] == 2


def test_autoretry_with_backoff_cap_and_max_retries(make_app: Any, worker: Any) -> None:
    app = make_app()
    calls = Counter()
    retries: list[int] = []

    def on_retry(sender: Any = None, request: Any = None, **_: Any) -> None:
        retries.append(request.retries)

    signals.task_retry.connect(on_retry)
    try:
        @app.task(name="t.auto", autoretry_for=(ConnectionError,), max_retries=3, retry_backoff=0.05,
                  retry_backoff_max=0.2, retry_jitter=True)
        def auto() -> None:
            calls.hit("x")
            raise ConnectionError("down")

        worker(app)
        r = auto.delay()
        assert done(r) == states.FAILURE
        assert isinstance(r.result, ConnectionError)
        assert calls["x"] == 4  # 1 + max_retries
        assert retries == [0, 1, 2]
    finally:
        signals.task_retry.disconnect(on_retry)


def test_autoretry_backoff_delays_are_exponential_capped_and_jittered(make_app: Any) -> None:
    """The countdown a worker (and an eager call) picks: min(cap, factor * 2**retries),
    jitter in [0, that] (``celeriac.retrying``, shared by both)."""
    from celeriac import retrying

    app = make_app()

    @app.task(name="t.backoff", autoretry_for=(OSError,), retry_backoff=2, retry_backoff_max=10,
              retry_jitter=False, max_retries=10)
    def backoff() -> None: ...

    def countdown(retries: int) -> float:
        r = retrying.autoretry(backoff, OSError(), retries)
        assert r is not None and r.when is not None
        return float(r.when)

    assert [countdown(n) for n in range(5)] == [2, 4, 8, 10, 10]
    type(backoff).retry_jitter = True
    random.seed(4)
    jittered = [countdown(3) for _ in range(50)]
    assert all(0 <= c <= 10 for c in jittered) and len(set(jittered)) > 10


def test_dont_autoretry_for_fails_at_once(make_app: Any, worker: Any) -> None:
    app = make_app()
    calls = Counter()

    @app.task(name="t.dont", autoretry_for=(Exception,), dont_autoretry_for=(ValueError,),
              default_retry_delay=0.05)
    def dont(kind: str) -> None:
        calls.hit(kind)
        raise (ValueError if kind == "value" else RuntimeError)(kind)

    worker(app)
    r1, r2 = dont.delay("value"), dont.delay("runtime")
    assert done(r1) == states.FAILURE and isinstance(r1.result, ValueError)
    assert done(r2) == states.FAILURE and isinstance(r2.result, RuntimeError)
    assert calls["value"] == 1
    assert calls["runtime"] == 4  # retried up to the default max_retries (3)


def test_hooks_of_a_base_class(make_app: Any, worker: Any) -> None:
    app = make_app()
    seen: list[tuple[str, str]] = []

    class Hooked(Task):
        def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
            seen.append(("success", repr(retval)))

        def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: str) -> None:
            seen.append(("failure", f"{exc!r} {'Traceback' in einfo}"))

        def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: str) -> None:
            seen.append(("retry", repr(exc)))

    calls = Counter()

    @app.task(base=Hooked, bind=True, name="t.hooked", max_retries=1)
    def hooked(self: Task, what: str) -> int:
        if what == "fail":
            raise ValueError("boom")
        if what == "retry" and calls.hit("r") == 1:
            raise self.retry(exc=OSError("again"), countdown=0.05)
        return 7

    worker(app)
    for what in ("ok", "fail", "retry"):
        assert done(hooked.delay(what)) in states.READY_STATES
    assert ("success", "7") in seen
    assert ("failure", "ValueError('boom') True") in seen
    assert ("retry", "OSError('again')") in seen
    assert seen.count(("success", "7")) == 2  # "ok" and the retried "retry"


def test_throws_is_logged_without_traceback(make_app: Any, worker: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    class Expected(Exception):
        pass

    @app.task(name="t.throws", throws=(Expected,))
    def throws(kind: str) -> None:
        raise Expected("fine") if kind == "expected" else RuntimeError("bad")

    caplog.set_level(logging.INFO, logger="celeriac.worker")
    worker(app)
    r1, r2 = throws.delay("expected"), throws.delay("unexpected")
    assert done(r1) == done(r2) == states.FAILURE
    expected = [rec for rec in caplog.records if "raised expected" in rec.getMessage()]
    unexpected = [rec for rec in caplog.records if "raised unexpected" in rec.getMessage()]
    assert expected and all(rec.levelno == logging.INFO and "Traceback" not in rec.getMessage()
                            for rec in expected)
    assert unexpected and any(rec.levelno == logging.ERROR and "Traceback" in rec.getMessage()
                              for rec in unexpected)


def test_task_signals(make_app: Any, worker: Any) -> None:
    app = make_app()
    got: list[tuple[str, Any]] = []
    receivers = {
        signals.task_prerun: lambda sender=None, task_id=None, **_: got.append(("prerun", task_id)),
        signals.task_postrun: lambda sender=None, task_id=None, state=None, **_: got.append(("postrun", state)),
        signals.task_success: lambda sender=None, result=None, **_: got.append(("success", result)),
        signals.task_failure: lambda sender=None, exception=None, traceback=None, **_: got.append(
            ("failure", (repr(exception), bool(traceback)))),
        signals.task_retry: lambda sender=None, reason=None, **_: got.append(("retry", repr(reason))),
    }
    calls = Counter()

    @app.task(bind=True, name="t.signalled", max_retries=1)
    def signalled(self: Task, what: str) -> int:
        if what == "fail":
            raise ValueError("x")
        if what == "retry" and calls.hit("r") == 1:
            raise self.retry(exc=OSError("y"), countdown=0.05)
        return 3

    for sig, fn in receivers.items():
        sig.connect(fn)
    boom = signals.task_success.connect(lambda **_: 1 / 0)  # a failing receiver changes nothing
    try:
        worker(app)
        ok = signalled.delay("ok")
        assert done(ok) == states.SUCCESS
        assert done(signalled.delay("fail")) == states.FAILURE
        assert done(signalled.delay("retry")) == states.SUCCESS
    finally:
        for sig, fn in receivers.items():
            sig.disconnect(fn)
        signals.task_success.disconnect(boom)
    assert ("prerun", ok.id) in got
    assert got.count(("success", 3)) == 2
    assert ("failure", ("ValueError('x')", True)) in got
    assert ("retry", "OSError('y')") in got
    assert [g for g in got if g[0] == "postrun"].count(("postrun", states.SUCCESS)) == 2
    assert ("postrun", states.FAILURE) in got and ("postrun", states.RETRY) in got
