"""Queue statistics and live workers as the operator and the autoscaler read them, identical
on every transport.

What is proved: ``app.queue_stats`` gives waiting per priority step, delayed / due, in
flight, dead, oldest wait and consumers for many queues in one call from a process where
no worker runs (one round trip on Redis: one script); ``app.live_workers`` shows a task in
``running`` within half a second of its start and drops it within half a second of its
end, although the worker heartbeats only every 5 s.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from celeriac import WorkerInfo
from celeriac.backends.base import PRIORITY_STEPS, Settlement
from helpers import wait_for


def test_queue_stats_without_any_worker(make_conf_app: Any, backend: Any) -> None:
    app = make_conf_app()
    for priority in (0, 0, 4, 9):
        app.send_task("x.t", (), queue="work", priority=priority)
    app.send_task("x.t", (), queue="work", countdown=300)
    app.send_task("x.t", (), queue="work", countdown=0.2)
    app.send_task("x.t", (), queue="other")
    backend.worker_register("w1", {"name": "w1", "hostname": "h", "queues": ["work"], "heartbeat": time.time()},
                            30)
    held = backend.fetch(["work"], "tester", 2, 0)  # what a worker holds: in flight
    assert len(held) == 2  # most urgent first: the priority 9 and 4 messages
    backend.settle([Settlement(held[0], dead_letter_reason="test")])
    time.sleep(0.6)  # the short countdown is due now, but no fetch promoted it

    stats = app.queue_stats(["work", "other", "empty"])
    assert list(stats) == ["work", "other", "empty"]
    work = stats["work"]
    assert (work.waiting, work.in_flight, work.dead, work.consumers) == (2, 1, 1, 1)
    assert work.waiting_by_priority == {9: 0, 6: 0, 3: 0, 0: 2}
    assert (work.delayed, work.due) == (1, 1)
    assert work.backlog == 2 + 1 + 1
    assert work.oldest_wait_s is not None and 0.5 <= work.oldest_wait_s < 60
    assert (work.ready, work.depth, work.oldest_age_s) == (work.waiting, work.backlog, work.oldest_wait_s)
    assert stats["other"].waiting == 1 and stats["other"].consumers == 0
    empty = stats["empty"]
    assert (empty.waiting, empty.delayed, empty.due, empty.in_flight, empty.dead, empty.oldest_wait_s) == (
        0, 0, 0, 0, 0, None)
    assert set(empty.waiting_by_priority) == set(PRIORITY_STEPS)
    assert set(app.queue_stats()) >= {"work", "other"}  # None: every known queue
    assert app.broker.queue_stats("work").waiting_by_priority == work.waiting_by_priority


@pytest.mark.parametrize("transport_url", ["redis"], indirect=True)
def test_queue_stats_is_one_round_trip_on_redis(make_conf_app: Any) -> None:
    app = make_conf_app()
    queues = [f"q{i}" for i in range(20)]
    for q in queues:
        app.send_task("x.t", (), queue=q)
    app.queue_stats(queues)  # loads the script
    client = app.broker.client
    calls: list[Any] = []
    original = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        calls.append(args[0])
        return original(*args, **options)

    client.execute_command = counted
    try:
        stats = app.queue_stats(queues)
    finally:
        del client.execute_command
    assert calls == ["EVALSHA"]
    assert all(stats[q].waiting == 1 for q in queues)


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_live_workers_running_is_current(make_conf_app: Any, worker: Any, pool: str) -> None:
    app = make_conf_app(worker_heartbeat_interval=5.0)
    marks: dict[str, float] = {}
    release = threading.Event()

    @app.task(name="live.work")
    def work(seconds: float) -> str:
        marks["start"] = time.time()
        release.wait(seconds)
        marks["end"] = time.time()
        return "done"

    worker(app, pool=pool, concurrency=2)
    live = wait_for(app.live_workers, 20, interval=0.05, what="the worker in the registry")
    assert len(live) == 1
    w = live[0]
    assert isinstance(w, WorkerInfo)
    assert (w.hostname, w.queues, w.pool, w.running, w.idle) == ("test@worker", ("default",), pool, (), True)
    assert w.concurrency == (1 if pool == "solo" else 2)
    assert abs(w.last_heartbeat - time.time()) < 10
    assert app.queue_stats(["default"])["default"].consumers == 1

    result = app.send_task("live.work", (2.0,))
    seen_at = _first_time(lambda: result.id in app.live_workers()[0].running, 10)
    assert "start" in marks and seen_at - marks["start"] < 0.5, (seen_at, marks)
    busy = app.live_workers()[0]
    assert busy.running == (result.id,) and not busy.idle and busy.in_flight >= 1
    gone_at = _first_time(lambda: not app.live_workers()[0].running, 10)
    assert "end" in marks and gone_at - marks["end"] < 0.5, (gone_at, marks)
    assert result.get(timeout=10) == "done"


def _first_time(predicate: Any, timeout: float) -> float:
    """The wall-clock time ``predicate`` first held (polled every 10 ms)."""
    wait_for(predicate, timeout, interval=0.01, what="the live workers' running list")
    return time.time()
