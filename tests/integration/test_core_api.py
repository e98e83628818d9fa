"""The task API as a Celery user uses it, against a real redis-server."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from celeriac import states
from celeriac.errors import ResultTimeout, TaskError


def test_task_names_options_and_results(make_app: Any, worker: Any) -> None:
    app = make_app("proj")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="custom.name", queue="special", serializer="msgpack", ignore_result=False)
    def named(x: int) -> int:
        return x * 2

    assert add.name.endswith(".add")
    assert named.name == "custom.name"
    app.conf.accept_content = ["json", "msgpack"]
    worker(app, queues=["default", "special"])
    r = add.apply_async((2, 3))
    assert r.get(timeout=10) == 5
    assert r.state == r.status == states.SUCCESS
    assert r.ready() and r.successful() and not r.failed()
    assert r.result == r.info == 5
    assert r.date_done is not None and r.worker == "test@worker"
    assert named.delay(21).get(timeout=10) == 42
    assert app.send_task("custom.name", [4]).get(timeout=10) == 8
    forced = app.send_task(add.name, [1, 1], task_id="my-own-id")
    assert forced.id == "my-own-id" and forced.get(timeout=10) == 2
    forced.forget()
    assert app.AsyncResult("my-own-id").state == states.PENDING


def test_eager_apply_runs_locally(make_app: Any) -> None:
    app = make_app()

    @app.task(bind=True)
    def who(self: Any, x: int) -> Any:
        return (self.request.id, self.request.is_eager, x)

    res = who.apply((7,), task_id="eager-1")
    assert res.get() == ("eager-1", True, 7)
    assert who(3)[2] == 3  # calling the task runs the function


def test_failure_reraises_the_task_exception_with_traceback(make_app: Any, worker: Any) -> None:
    app = make_app()

    class LocalError(Exception):
        pass

    @app.task
    def boom(kind: str) -> None:
        if kind == "value":
            raise ValueError("bad value")
        raise LocalError("not importable by name")

    worker(app)
    r = boom.delay("value")
    with pytest.raises(ValueError, match="bad value"):
        r.get(timeout=10)
    assert r.state == states.FAILURE and r.failed()
    assert "ValueError: bad value" in (r.traceback or "")
    assert isinstance(r.get(timeout=1, propagate=False), ValueError)
    local = boom.delay("local")
    with pytest.raises(TaskError) as info:
        local.get(timeout=10)
    assert "LocalError" in str(info.value) and info.value.remote_traceback


def test_progress_state_is_visible_while_running(make_app: Any, worker: Any) -> None:
    app = make_app()
    release = threading.Event()

    @app.task(bind=True)
    def long(self: Any) -> str:
        self.update_state(state="PROGRESS", meta={"current": 3, "total": 10})
        release.wait(10)
        return "done"

    worker(app)
    r = long.delay()
    deadline = time.monotonic() + 10
    while r.state != "PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.state == "PROGRESS"
    assert r.info == {"current": 3, "total": 10}
    assert not r.ready()
    release.set()
    assert r.get(timeout=10) == "done"


def test_get_times_out_and_wakes_on_completion(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task
    def slow(delay: float) -> float:
        time.sleep(delay)
        return delay

    r = slow.delay(0.0)
    with pytest.raises(ResultTimeout):
        r.get(timeout=0.2)  # no worker yet
    worker(app)
    started = time.monotonic()
    assert slow.delay(0.3).get(timeout=10) == 0.3
    # Woken by the completion signal, not a polling interval: well under a second late.
    assert time.monotonic() - started < 3.0


def test_track_started_records_started(make_app: Any, worker: Any) -> None:
    app = make_app(task_track_started=True)
    gate = threading.Event()

    @app.task
    def wait() -> None:
        gate.wait(10)

    worker(app)
    r = wait.delay()
    deadline = time.monotonic() + 10
    while r.state != states.STARTED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.state == states.STARTED
    gate.set()
    r.get(timeout=10)


def test_argument_errors_fail_at_call_time(make_app: Any) -> None:
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(TypeError, match="add"):
        add.delay(1, 2, 3)


@pytest.mark.parametrize("serializer", ["json", "msgpack", "yaml", "pickle"])
def test_every_serializer_round_trips(make_app: Any, worker: Any, serializer: str) -> None:
    app = make_app(task_serializer=serializer, result_serializer=serializer,
                   accept_content=["json", serializer])

    @app.task
    def echo(value: Any) -> Any:
        return value

    worker(app)
    payload = {"n": 1, "f": 1.5, "s": "ü", "l": [1, "2"], "none": None}
    assert echo.delay(payload).get(timeout=10) == payload
