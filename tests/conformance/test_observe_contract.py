"""Observability capabilities (events, worker registry, control replies, collector lease)
and a control round trip through a worker, identical on every transport."""

from __future__ import annotations

import threading
import time
from typing import Any

from helpers import wait_for


def test_read_events_blocks_until_one_arrives(backend: Any, make_backend: Any) -> None:
    backend.emit([{"type": "task-received", "uuid": "a"}])
    first = backend.read_events("0", 10)
    assert [e["uuid"] for _i, e in first] == ["a"]
    assert backend.last_event_id() == first[-1][0]
    assert backend.read_events("$", 10) == []
    writer = make_backend()
    timer = threading.Timer(0.3, lambda: writer.emit([{"type": "task-succeeded", "uuid": "b"}]))
    timer.start()
    try:
        got: list[Any] = []
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            got = backend.read_events(first[-1][0], 10, block_s=5.0)
    finally:
        timer.join()
    assert [e["uuid"] for _i, e in got] == ["b"]


def test_worker_registry(backend: Any) -> None:
    backend.worker_register("w1", {"hostname": "h1", "pid": 1}, 30)
    backend.worker_register("w2", {"hostname": "h2", "pid": 2}, 1.5)
    assert sorted(w["hostname"] for w in backend.workers()) == ["h1", "h2"]
    time.sleep(1.8)
    assert [w["hostname"] for w in backend.workers()] == ["h1"]
    backend.worker_unregister("w1")
    assert backend.workers() == []


def test_control_replies(backend: Any, make_backend: Any) -> None:
    replier = make_backend()
    timer = threading.Timer(0.2, lambda: [replier.control_reply("req", {"n": i}) for i in range(2)])
    timer.start()
    try:
        got = backend.control_replies("req", 2, 10)
    finally:
        timer.join()
    assert sorted(r["n"] for r in got) == [0, 1]
    assert backend.control_replies("req", None, 0.1) == []


def test_collector_lease(backend: Any) -> None:
    assert backend.collector_lease("a", 1.5)
    assert not backend.collector_lease("b", 1.5)
    assert backend.collector_lease("a", 1.5)
    time.sleep(1.8)
    assert backend.collector_lease("b", 1.5)


def test_inspect_ping_reaches_a_worker(make_conf_app: Any, worker: Any) -> None:
    from celeriac import control

    app = make_conf_app()
    worker(app, pool="threads", concurrency=1)

    def pinged() -> list[dict[str, Any]]:
        return control.broadcast(app, "ping", timeout=2.0)

    replies = wait_for(pinged, 30, interval=0.2, what="a ping reply")
    assert replies[0]["hostname"] == "test@worker" and "ok" in replies[0]
