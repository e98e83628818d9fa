"""The broker half of the Backend contract, identical on every transport."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from celeriac.backends.base import Outgoing, ResultRecord, Settlement

Q = "cq"


def out(task_id: str, *, queue: str = Q, priority: int | None = None, eta: float | None = None) -> Outgoing:
    return Outgoing(queue=queue, task_id=task_id, content_type="application/json",
                    body=f'{{"id": "{task_id}"}}'.encode(), priority=priority, eta=eta)


def test_publish_fetch_ack(backend: Any) -> None:
    backend.publish([out(f"t{i}") for i in range(3)])
    got = backend.fetch([Q], "c1", 10, 0)
    assert [d.task_id for d in got] == ["t0", "t1", "t2"]
    assert all(d.deliveries == 1 and not d.revoked and d.queue == Q for d in got)
    assert got[0].body == b'{"id": "t0"}' and got[0].content_type == "application/json"
    stats = backend.queue_stats(Q)
    assert (stats.ready, stats.in_flight, stats.depth) == (0, 3, 3)
    assert backend.fetch([Q], "c2", 10, 0) == []
    backend.settle([Settlement(d) for d in got])
    stats = backend.queue_stats(Q)
    assert (stats.ready, stats.in_flight, stats.delayed, stats.dead) == (0, 0, 0, 0)
    assert Q in backend.known_queues()


def test_fetch_respects_count_and_queue_order(backend: Any) -> None:
    backend.publish([out(f"a{i}", queue="qa") for i in range(3)] + [out(f"b{i}", queue="qb") for i in range(3)])
    first = backend.fetch(["qb", "qa"], "c1", 4, 0)
    assert [d.task_id for d in first] == ["b0", "b1", "b2", "a0"]
    rest = backend.fetch(["qb", "qa"], "c1", 10, 0)
    assert [d.task_id for d in rest] == ["a1", "a2"]


def test_priority_most_urgent_first(backend: Any) -> None:
    backend.publish([out("none"), out("p3", priority=3), out("p9", priority=9), out("p6", priority=7),
                     out("p0", priority=0)])
    got = backend.fetch([Q], "c1", 10, 0)
    assert [d.task_id for d in got] == ["p9", "p6", "p3", "none", "p0"]
    assert [d.priority for d in got] == [9, 6, 3, 0, 0]


def test_blocking_fetch_wakes_on_publish(backend: Any, make_backend: Any) -> None:
    producer = make_backend()
    backend.ensure_queues([Q])
    timer = threading.Timer(0.3, lambda: producer.publish([out("late")]))
    timer.start()
    try:
        got: list[Any] = []
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            got = backend.fetch([Q], "c1", 5, 5.0)
        assert [d.task_id for d in got] == ["late"]
    finally:
        timer.join()


def test_delayed_message_waits_for_its_eta(backend: Any) -> None:
    eta = time.time() + 1.5
    backend.publish([out("later", eta=eta), out("past", eta=time.time() - 5)])
    assert [d.task_id for d in backend.fetch([Q], "c1", 10, 0)] == ["past"]
    stats = backend.queue_stats(Q)
    assert (stats.delayed, stats.due) == (1, 0)
    due = backend.next_delayed_due([Q])
    assert due == pytest.approx(eta, abs=0.01)
    got: list[Any] = []
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        got = backend.fetch([Q], "c1", 10, 1.0)
    assert [d.task_id for d in got] == ["later"]
    assert time.time() >= eta - 0.01
    assert backend.next_delayed_due([Q]) is None


def test_requeue_counts_deliveries_only_when_asked(backend: Any) -> None:
    backend.publish([out("t")])
    (d,) = backend.fetch([Q], "c1", 1, 0)
    backend.requeue([d])
    (d,) = backend.fetch([Q], "c1", 1, 0)
    assert d.deliveries == 1
    backend.requeue([d], count_delivery=True)
    (d,) = backend.fetch([Q], "c1", 1, 0)
    assert d.deliveries == 2
    backend.settle([Settlement(d)])
    assert backend.queue_stats(Q).depth == 0


def test_dead_letter_on_settle(backend: Any) -> None:
    backend.publish([out("bad"), out("good")])
    bad, good = backend.fetch([Q], "c1", 2, 0)
    backend.settle([Settlement(bad, dead_letter_reason="cannot decode"), Settlement(good)])
    (dl,) = backend.dead_letters(Q, 10)
    assert (dl.task_id, dl.reason, dl.queue, dl.deliveries) == ("bad", "cannot decode", Q, 1)
    assert dl.body == b'{"id": "bad"}'
    assert backend.dead_letters(None, 10)[0].task_id == "bad"
    stats = backend.queue_stats(Q)
    assert (stats.dead, stats.in_flight, stats.ready) == (1, 0, 0)


def test_reclaim_after_holder_stops_refreshing(backend: Any) -> None:
    backend.publish([out("held"), out("alive")])
    _held, alive = backend.fetch([Q], "dead-worker", 2, 0)
    time.sleep(0.4)
    backend.refresh_leases("live-worker", [alive])
    assert backend.reclaim([Q], 0.3, 5) == 1
    (again,) = backend.fetch([Q], "other", 5, 0)
    assert again.task_id == "held" and again.deliveries == 2
    backend.settle([Settlement(again), Settlement(alive)])
    assert backend.queue_stats(Q).depth == 0


def test_reclaim_dead_letters_after_max_deliveries(backend: Any) -> None:
    backend.publish([out("poison")])
    for expected in (1, 2):
        (d,) = backend.fetch([Q], f"w{expected}", 1, 0)
        assert d.deliveries == expected
        time.sleep(0.25)
        assert backend.reclaim([Q], 0.2, 2) == 1
    assert backend.fetch([Q], "w3", 1, 0) == []
    (dl,) = backend.dead_letters(Q, 10)
    assert dl.task_id == "poison" and dl.deliveries == 2 and "2 times" in dl.reason


def test_late_ack_after_reclaim_is_reported(backend: Any, caplog: pytest.LogCaptureFixture) -> None:
    backend.publish([out("slow")])
    (d,) = backend.fetch([Q], "frozen", 1, 0)
    time.sleep(0.25)
    assert backend.reclaim([Q], 0.2, 5) == 1
    with caplog.at_level(logging.WARNING):
        backend.settle([Settlement(d)])
    assert "may have run twice" in caplog.text
    (again,) = backend.fetch([Q], "other", 1, 0)
    assert again.task_id == "slow"


def test_release_consumer_hands_back_what_it_held(backend: Any) -> None:
    backend.publish([out("x"), out("y"), out("z")])
    backend.fetch([Q], "child-1", 2, 0)
    assert backend.release_consumer([Q], "child-2", count_delivery=True) == 0
    assert backend.release_consumer([Q], "child-1", count_delivery=True) == 2
    got = backend.fetch([Q], "child-3", 5, 0)
    assert sorted(d.task_id for d in got) == ["x", "y", "z"]
    assert {d.task_id: d.deliveries for d in got} == {"z": 1, "x": 2, "y": 2}


def test_revoke_marks_deliveries(backend: Any) -> None:
    backend.revoke(["gone"], 60)
    assert backend.revoked(["gone", "kept"]) == [True, False]
    backend.publish([out("gone"), out("kept")])
    got = {d.task_id: d.revoked for d in backend.fetch([Q], "c1", 5, 0)}
    assert got == {"gone": True, "kept": False}


def test_queue_stats_and_purge(backend: Any) -> None:
    backend.publish([out("r1"), out("r2"), out("r3"), out("d1", eta=time.time() + 60)])
    (held,) = backend.fetch([Q], "c1", 1, 0)
    stats = backend.queue_stats(Q)
    assert (stats.ready, stats.delayed, stats.due, stats.in_flight) == (2, 1, 0, 1)
    assert stats.oldest_age_s is not None and stats.oldest_age_s >= 0
    assert backend.purge(Q) == 3
    stats = backend.queue_stats(Q)
    assert (stats.ready, stats.delayed, stats.in_flight) == (0, 0, 1)
    backend.settle([Settlement(held)])
    assert backend.queue_stats(Q).depth == 0


def test_settle_writes_everything_at_once(backend: Any, read_events: Any) -> None:
    backend.publish([out("parent")])
    (d,) = backend.fetch([Q], "c1", 1, 0)
    record = ResultRecord(task_id="parent", status="SUCCESS", result=b"42", task="t.parent", worker="w1",
                          date_done=time.time(), children=["child"])
    backend.settle([Settlement(d, result=record, publish=[out("child", queue="next")],
                               events=[{"type": "task-succeeded", "uuid": "parent", "runtime": 0.5}])])
    got = backend.get_result("parent")
    assert (got.status, got.result, got.task, got.worker, got.children) == (
        "SUCCESS", b"42", "t.parent", "w1", ["child"])
    assert [x.task_id for x in backend.fetch(["next"], "c1", 5, 0)] == ["child"]
    assert backend.queue_stats(Q).depth == 0
    events = read_events(backend)
    assert [e["type"] for e in events] == ["task-succeeded"]
    assert events[0]["uuid"] == "parent" and events[0]["runtime"] == 0.5


def test_events_are_bounded(make_backend: Any, read_events: Any) -> None:
    b = make_backend(events_maxlen=10)
    for i in range(3):
        b.emit([{"type": "task-received", "n": i * 100 + j} for j in range(100)])
    events = read_events(b)
    # Redis trims approximately (whole stream nodes); SQLite exactly: both keep the newest.
    assert 10 <= len(events) <= 200
    assert events[-1]["n"] == 299
