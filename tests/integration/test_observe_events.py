"""Events (task and worker), the worker registry and remote control/inspect, against a real
redis-server with an in-process worker."""

from __future__ import annotations

import threading
import time
from typing import Any

from celeriac import events as ev
from helpers import wait_for


def _app(make_app: Any, **settings: Any) -> Any:
    app = make_app("obs", worker_heartbeat_interval=0.2, **settings)

    @app.task(name="obs.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="obs.sleep")
    def sleep(s: float) -> float:
        time.sleep(s)
        return s

    @app.task(name="obs.fail")
    def fail() -> None:
        raise ValueError("boom")

    return app


def _types(app: Any) -> list[str]:
    return [e["type"] for _i, e in ev.dump(app.broker)]


def test_task_and_worker_events(make_app: Any, worker: Any) -> None:
    app = _app(make_app)
    w = worker(app)
    ok = app.send_task("obs.add", (1, 2))
    bad = app.send_task("obs.fail")
    slow = app.send_task("obs.sleep", (1.0,))
    assert ok.get(timeout=10) == 3
    bad.get(timeout=10, propagate=False)
    assert slow.get(timeout=10) == 1.0
    w.stop()
    got = [e for _i, e in ev.dump(app.broker)]
    kinds = [e["type"] for e in got]
    for kind in ("task-sent", "task-succeeded", "task-failed", "task-started", "worker-online",
                 "worker-heartbeat", "worker-offline"):
        assert kind in kinds, kind
    sent = next(e for e in got if e["type"] == "task-sent" and e["uuid"] == ok.id)
    assert sent["name"] == "obs.add" and sent["queue"] == "default"
    done = next(e for e in got if e["type"] == "task-succeeded" and e["uuid"] == ok.id)
    assert isinstance(done["runtime"], float) and isinstance(done["timestamp"], float)
    started = [e for e in got if e["type"] == "task-started"]
    assert [e["uuid"] for e in started] == [slow.id]  # only the task running at a heartbeat
    beat = [e for e in got if e["type"] == "worker-heartbeat"][-1]
    assert beat["hostname"] == "test@worker" and beat["pool"] == "threads" and beat["concurrency"] == 2
    assert isinstance(beat["queues"], list) and isinstance(beat["processed"], int)
    assert ev.human(done).split()[1] == "task-succeeded"


def test_events_switched_off(make_app: Any, worker: Any) -> None:
    app = _app(make_app, worker_send_task_events=False)
    w = worker(app)
    assert app.send_task("obs.add", (1, 2)).get(timeout=10) == 3
    time.sleep(0.5)
    w.stop()
    assert _types(app) == []


def test_read_events_blocks_until_one_arrives(make_app: Any) -> None:
    app = _app(make_app)
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.extend(app.broker.read_events("$", 10, 5.0)))
    t.start()
    time.sleep(0.3)
    app.broker.emit([{"type": "custom", "x": "1"}])
    t.join(10)
    assert [e["type"] for _i, e in got] == ["custom"]


def test_worker_registry(make_app: Any, worker: Any) -> None:
    app = _app(make_app)
    w = worker(app)
    found = wait_for(lambda: app.broker.workers(), 10, what="registry entry")
    assert found[0]["hostname"] == "test@worker" and found[0]["pool"] == "threads"
    w.stop()
    assert app.broker.workers() == []


def test_inspect_and_ping(make_app: Any, worker: Any) -> None:
    app = _app(make_app)
    w = worker(app)
    wait_for(lambda: app.control.ping(timeout=0.5), 10, what="ping")
    slow = app.send_task("obs.sleep", (2.0,))
    ctl = app.control.inspect(timeout=2.0)
    active = wait_for(lambda: (ctl.active() or {}).get("test@worker"), 10, what="active task")
    assert active[0]["id"] == slow.id and active[0]["name"] == "obs.sleep"
    assert "obs.add" in (ctl.registered() or {})["test@worker"]
    only = (ctl.stats() or {})["test@worker"]
    assert only["pool"]["implementation"].endswith("threads") and only["active"] == 1
    assert (ctl.scheduled() or {})["test@worker"] == []
    app.control.revoke("never-ran")
    assert "never-ran" in wait_for(lambda: (ctl.revoked() or {}).get("test@worker"), 5)
    assert (ctl.reserved() or {})["test@worker"] == []
    assert app.control.ping() == [{"test@worker": {"ok": "pong"}}]
    assert app.control.inspect(destination=["nobody@nowhere"], timeout=0.5).ping() is None
    slow.get(timeout=10)
    w.stop()
    assert app.control.inspect(timeout=0.3).ping() is None


def test_control_commands(make_app: Any, worker: Any) -> None:
    app = _app(make_app)
    w = worker(app)
    wait_for(lambda: app.control.ping(timeout=0.5), 10, what="ping")
    (r,) = app.control.add_consumer("extra")
    assert "now consuming" in r["test@worker"]["ok"]
    assert app.send_task("obs.add", (2, 2), queue="extra").get(timeout=10) == 4
    (r,) = app.control.cancel_consumer("extra")
    assert "no longer" in r["test@worker"]["ok"]
    assert w.consumer.queues == ["default"]
    (r,) = app.control.rate_limit("obs.add", "100/s")
    assert app.tasks["obs.add"].rate_limit == "100/s"
    (r,) = app.control.pool_grow(2)
    assert r == {"test@worker": {"ok": "pool size 4"}} and w.consumer.pool.capacity >= 4
    (r,) = app.control.pool_shrink(1)
    assert r == {"test@worker": {"ok": "pool size 3"}}
    assert app.send_task("obs.add", (3, 3)).get(timeout=10) == 6
    (r,) = app.control.broadcast("no-such-command")
    assert "unknown command" in r["error"]
    app.control.shutdown()
    w.thread.join(15)
    assert not w.thread.is_alive()
