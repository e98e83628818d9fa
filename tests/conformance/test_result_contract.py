"""The result-store half of the Backend contract, identical on every transport."""

from __future__ import annotations

import threading
import time
from typing import Any

from celeriac.backends.base import ResultRecord


def rec(task_id: str, status: str, **kw: Any) -> ResultRecord:
    return ResultRecord(task_id=task_id, status=status, **kw)


def test_store_get_forget(backend: Any) -> None:
    assert backend.get_result("nope") is None
    backend.store_result(rec("a", "STARTED", worker="w1", extra={"date_started": "100.5"}))
    got = backend.get_result("a")
    assert (got.status, got.worker, got.extra["date_started"]) == ("STARTED", "w1", "100.5")
    backend.store_result(rec("a", "SUCCESS", result=b"[1, 2]", date_done=200.0, retries=2, queue="q",
                             parent_id="p", root_id="r", group="g", traceback=None))
    got = backend.get_result("a")
    assert (got.status, got.result, got.date_done, got.retries, got.queue) == ("SUCCESS", b"[1, 2]", 200.0, 2, "q")
    assert (got.parent_id, got.root_id, got.group, got.worker) == ("p", "r", "g", None)
    assert got.extra.get("date_started") == "100.5", "extras merge across writes, as in Redis"
    assert [r.status if r else None for r in backend.get_results(["a", "nope"])] == ["SUCCESS", None]
    backend.forget("a")
    assert backend.get_result("a") is None


def test_wait_result_wakes_on_completion(backend: Any, make_backend: Any) -> None:
    writer = make_backend()
    backend.store_result(rec("w", "STARTED"))
    assert backend.wait_result("w", 0.2).status == "STARTED"  # timed out: the current state
    timer = threading.Timer(0.3, lambda: writer.store_result(rec("w", "FAILURE", result=b'{"exc_type": "E"}',
                                                                  traceback="tb")))
    timer.start()
    try:
        got = backend.wait_result("w", 10)
    finally:
        timer.join()
    assert (got.status, got.traceback) == ("FAILURE", "tb")
    assert backend.wait_result("unknown", 0.1) is None


def test_progress_states_do_not_wake_waiters(backend: Any) -> None:
    def write() -> None:
        backend.store_result(rec("p", "PROGRESS", result=b'{"done": 1}'))
        time.sleep(0.2)
        backend.store_result(rec("p", "SUCCESS", result=b"3"))

    t = threading.Thread(target=write)
    t.start()
    try:
        assert backend.wait_result("p", 10).status == "SUCCESS"
    finally:
        t.join()


def test_results_expire(make_backend: Any) -> None:
    b = make_backend(result_expires=2)
    b.store_result(rec("e", "SUCCESS", result=b"1"))
    assert b.get_result("e") is not None
    time.sleep(3.1)
    assert b.get_result("e") is None


def test_revocation_expires(backend: Any) -> None:
    backend.revoke(["short"], 2)
    backend.revoke(["long"], None)
    assert backend.revoked(["short", "long"]) == [True, True]
    time.sleep(2.3)
    assert backend.revoked(["short", "long"]) == [False, True]
    assert backend.revoked([]) == []
