"""Enqueue once and task lookup (the operator's API), identical on every transport.

What is proved: an id is enqueued at most once while queued, running, finished and
recorded, across a worker restart, and under racing producers; ``lookup_tasks`` tells
unknown / queued / recorded / expired apart in one call while ``AsyncResult.state``
stays PENDING for every unrecorded case; the marker's window ends as documented.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from celeriac import TaskInfo, states
from helpers import wait_for


def _app_with_tasks(make_conf_app: Any, **settings: Any) -> tuple[Any, list[str]]:
    app = make_conf_app(**settings)
    ran: list[str] = []

    @app.task(name="once.add", bind=True)
    def add(self: Any, x: int, y: int) -> int:
        ran.append(self.request.id)
        return x + y

    @app.task(name="once.boom")
    def boom(message: str) -> None:
        raise ValueError(message)

    return app, ran


def test_enqueue_once_while_queued_running_and_finished(make_conf_app: Any, worker: Any) -> None:
    app, ran = _app_with_tasks(make_conf_app)
    assert app.lookup_tasks(["t-1"])["t-1"].presence == "unknown"
    assert app.enqueue_once("once.add", (2, 3), task_id="t-1") is True
    assert app.enqueue_once("once.add", (2, 3), task_id="t-1") is False  # queued
    queued = app.lookup_tasks(["t-1"])["t-1"]
    assert (queued.presence, queued.state, queued.task, queued.queue) == ("queued", states.PENDING,
                                                                          "once.add", "default")
    assert queued.enqueued_at is not None and abs(queued.enqueued_at - time.time()) < 30
    assert app.AsyncResult("t-1").state == states.PENDING

    first = worker(app, pool="threads", concurrency=2)
    assert app.AsyncResult("t-1").get(timeout=20) == 5
    assert app.enqueue_once("once.add", (2, 3), task_id="t-1") is False  # finished, recorded
    res = app.send_task("once.add", (2, 3), task_id="t-1", once=True)
    assert res.enqueued is False and res.id == "t-1"

    # a worker restart changes nothing: the marker lives in the broker
    first.stop()
    worker(app, pool="threads", concurrency=2)
    assert app.enqueue_once("once.add", (2, 3), task_id="t-1") is False
    fresh = app.send_task("once.add", (1, 1), task_id="t-2", once=True)
    assert fresh.enqueued is True and fresh.get(timeout=20) == 2
    assert sorted(ran) == ["t-1", "t-2"]

    info = app.lookup_tasks(["t-1"])["t-1"]
    assert isinstance(info, TaskInfo)
    assert (info.presence, info.state, info.result, info.retries) == ("recorded", states.SUCCESS, 5, 0)
    assert info.worker == "test@worker" and info.task == "once.add" and info.queue == "default"
    assert info.finished_at is not None and info.runtime_s is not None and info.runtime_s >= 0
    assert info.enqueued_at is not None and info.enqueued_at <= info.finished_at


def test_lookup_many_in_one_call(make_conf_app: Any, worker: Any) -> None:
    app, _ran = _app_with_tasks(make_conf_app)
    worker(app, pool="threads", concurrency=2)
    assert app.enqueue_once("once.boom", ("no luck",), task_id="bad")
    with pytest.raises(ValueError):
        app.AsyncResult("bad").get(timeout=20)
    plain = app.send_task("once.add", (4, 4))
    assert plain.get(timeout=20) == 8
    ids = ["bad", plain.id, "never", *[f"x{i}" for i in range(300)]]
    got = app.lookup_tasks(ids)
    assert list(got) == ids
    bad = got["bad"]
    assert (bad.presence, bad.state, bad.error_type, bad.error_message) == ("recorded", states.FAILURE,
                                                                            "ValueError", "no luck")
    assert bad.result is None and "ValueError" in (bad.traceback or "")
    assert got[plain.id].result == 8 and got[plain.id].enqueued_at is None  # not enqueued once
    assert {got[i].presence for i in ids[2:]} == {"unknown"}
    assert app.lookup_tasks([]) == {}


def test_racing_producers_enqueue_one(make_conf_app: Any) -> None:
    app, _ran = _app_with_tasks(make_conf_app)
    apps = [make_conf_app(f"p{i}") for i in range(4)]
    wins: list[bool] = []
    start = threading.Barrier(len(apps))

    def produce(a: Any) -> None:
        start.wait()
        for _ in range(5):
            wins.append(a.enqueue_once("once.add", (1, 2), task_id="race"))

    threads = [threading.Thread(target=produce, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wins.count(True) == 1 and len(wins) == 20
    assert app.queue_stats(["default"])["default"].waiting == 1


def test_marker_outlives_the_record_then_expires(make_conf_app: Any, worker: Any) -> None:
    app, ran = _app_with_tasks(make_conf_app, result_expires=2)
    w = worker(app, pool="threads", concurrency=1)
    assert app.enqueue_once("once.add", (1, 1), task_id="short")
    assert app.AsyncResult("short").get(timeout=20) == 2
    assert app.lookup_tasks(["short"])["short"].presence == "recorded"
    w.stop()  # nothing may run it again behind the test's back
    expired = wait_for(lambda: app.lookup_tasks(["short"])["short"].presence == "expired", 10,
                       interval=0.05, what="the record to expire")
    assert ran == ["short"]
    assert expired
    info = app.lookup_tasks(["short"])["short"]
    assert info.state == states.PENDING and info.task == "once.add"
    assert app.AsyncResult("short").state == states.PENDING
    assert app.enqueue_once("once.add", (1, 1), task_id="short") is False  # the marker still refuses
    wait_for(lambda: app.lookup_tasks(["short"])["short"].presence == "unknown", 10, interval=0.05,
             what="the marker to expire (2 x result_expires)")
    assert app.enqueue_once("once.add", (1, 1), task_id="short") is True
    assert ran == ["short"]


def test_enqueue_once_delayed_and_with_options(make_conf_app: Any) -> None:
    app, _ran = _app_with_tasks(make_conf_app)
    assert app.enqueue_once("once.add", (1, 1), task_id="later", countdown=60, priority=9,
                            queue="other", headers={"h": "1"})
    assert not app.enqueue_once("once.add", (1, 1), task_id="later")
    stats = app.queue_stats(["other"])["other"]
    assert (stats.delayed, stats.waiting) == (1, 0)
    assert app.lookup_tasks(["later"])["later"].queue == "other"
    with pytest.raises(ValueError):
        app.enqueue_once("once.add", (1, 1), task_id="")
    with pytest.raises(ValueError):
        app.send_task("once.add", (1, 1), once=True)


def test_task_sent_event_goes_with_the_enqueue(make_conf_app: Any) -> None:
    app, _ran = _app_with_tasks(make_conf_app, worker_send_task_events=True, task_send_sent_event=True)
    start = app.last_event_id()
    assert app.enqueue_once("once.add", (1, 1), task_id="ev")
    assert not app.enqueue_once("once.add", (1, 1), task_id="ev")
    sent = [e for _i, e in app.read_events(start, 100) if e.get("type") == "task-sent"]
    assert [e["uuid"] for e in sent] == ["ev"]


@pytest.mark.parametrize("transport_url", ["redis"], indirect=True)
def test_enqueue_once_waits_for_replicas_like_a_publish(make_conf_app: Any) -> None:
    from celeriac.errors import ConnectionLost

    # a lone redis-server has no replica: WAIT answers 0, the enqueue counts as not durable
    strict = make_conf_app("strict", broker_wait_replicas=1, broker_wait_timeout_ms=20,
                           task_publish_retry_policy={"max_retries": 1, "interval_start": 0})
    with pytest.raises(ConnectionLost, match="replica"):
        strict.enqueue_once("once.add", (1, 1), task_id="durable")
    app, _ran = _app_with_tasks(make_conf_app)
    assert app.lookup_tasks(["durable"])["durable"].presence == "queued"  # written, just not replicated
    assert not app.enqueue_once("once.add", (1, 1), task_id="durable")
