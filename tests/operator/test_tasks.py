"""Task objects end to end: the real operator process, the Kubernetes API emulator, a real
worker and a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from helpers import wait_for
from operator_helpers import API, task


def _status(cluster: Any, name: str) -> dict[str, Any]:
    obj = cluster.get(API, "Task", name, "default")
    return dict((obj or {}).get("status") or {})


def _states(cluster: Any, name: str, until: str, timeout: float) -> list[str]:
    """Every distinct state the object showed, polling every 10 ms, until ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _status(cluster, name).get("state")
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        if state == until:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"{name} never reached {until}: saw {seen}")


def test_pending_started_success_with_the_result(cluster: Any, start_operator: Callable[..., Any],
                                                 k8s_worker: Callable[..., Any]) -> None:
    start_operator()
    k8s_worker()
    cluster.create(task("add-slow", "k8s.sleep_add", 2, 3, kwargs={"delay": 1.5}))
    seen = _states(cluster, "add-slow", "SUCCESS", 30)
    assert seen == ["PENDING", "STARTED", "SUCCESS"], seen
    status = _status(cluster, "add-slow")
    obj = cluster.get(API, "Task", "add-slow", "default")
    assert status["result"] == 5 and status["taskId"] == obj["metadata"]["uid"]
    assert status["runtimeSeconds"] >= 1.5 and status["worker"]
    assert status["observedGeneration"] == 1
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {"Enqueued": ("True", "Enqueued"), "Started": ("True", "Started"),
                          "Finished": ("True", "Succeeded")}
    assert "kopf" not in status and not any(k.startswith("task_") for k in status)
    annotations = obj["metadata"].get("annotations") or {}
    assert all(k.startswith("celeriac.dev/") for k in annotations), annotations
    wait_for(lambda: not (cluster.get(API, "Task", "add-slow", "default")["metadata"].get("finalizers")),
             10, what="the finalizer to go once finished")
    reasons = wait_for(lambda: (lambda r: r if "Succeeded" in r else None)(
        [e["reason"] for e in cluster.events(obj)]), 10, what="a Succeeded event")
    assert reasons[:1] == ["Enqueued"] and "Started" in reasons


def test_a_failing_task_shows_failure_with_the_error(cluster: Any, start_operator: Callable[..., Any],
                                                     k8s_worker: Callable[..., Any]) -> None:
    start_operator()
    k8s_worker()
    obj = cluster.create(task("boom", "k8s.fail", "it broke"))
    wait_for(lambda: _status(cluster, "boom").get("state") == "FAILURE", 30, what="FAILURE")
    status = _status(cluster, "boom")
    assert status["error"] == {"type": "ValueError", "message": "it broke"}
    assert "ValueError" in status["traceback"]
    finished = next(c for c in status["conditions"] if c["type"] == "Finished")
    assert (finished["status"], finished["reason"]) == ("True", "Failed")
    events = wait_for(lambda: [e for e in cluster.events(obj) if e["reason"] == "Failed"], 10,
                      what="a Failed event")
    assert events[0]["type"] == "Warning" and "ValueError: it broke" in events[0]["message"]


def test_deleting_a_running_task_revokes_and_terminates_it(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any],
        marker_dir: Any, make_app: Callable[..., Any]) -> None:
    start_operator()
    k8s_worker()
    cluster.create(task("long", "k8s.sleep_add", 1, 1, kwargs={"delay": 30},
                        annotations={"celeriac.dev/terminate-on-delete": "true"}))
    wait_for(lambda: _status(cluster, "long").get("state") == "STARTED", 30, what="STARTED")
    task_id = _status(cluster, "long")["taskId"]
    obj = cluster.get(API, "Task", "long", "default")
    assert obj["metadata"]["finalizers"] == ["celeriac.dev/finalizer"]
    cluster.delete(API, "Task", "long", "default")
    wait_for(lambda: cluster.get(API, "Task", "long", "default") is None, 15, what="the object to go")
    app = make_app()
    info = wait_for(lambda: (lambda i: i if i.state == "REVOKED" else None)(
        app.lookup_tasks([task_id])[task_id]), 20, what="the task to be REVOKED")
    assert info.state == "REVOKED"
    assert [e["reason"] for e in cluster.events(name="long", namespace="default", kind="Task")
            if e["reason"] == "Revoked"]


def test_deleting_a_queued_task_revokes_it_before_it_runs(
        cluster: Any, start_operator: Callable[..., Any], marker_dir: Any,
        k8s_worker: Callable[..., Any]) -> None:
    start_operator()
    cluster.create(task("later", "k8s.mark", "x"))  # no worker yet: it waits in the queue
    wait_for(lambda: _status(cluster, "later").get("state") == "PENDING", 15, what="PENDING")
    task_id = _status(cluster, "later")["taskId"]
    cluster.delete(API, "Task", "later", "default")
    wait_for(lambda: cluster.get(API, "Task", "later", "default") is None, 15, what="the object to go")
    k8s_worker()
    cluster.create(task("after", "k8s.mark", "y"))
    wait_for(lambda: _status(cluster, "after").get("state") == "SUCCESS", 30, what="the next task")
    from operator_helpers import runs_of

    assert task_id not in runs_of(marker_dir)


def test_finished_tasks_carry_no_finalizer_and_ttl_deletes_them(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any]) -> None:
    start_operator()
    k8s_worker()
    cluster.create(task("short-lived", "k8s.add", 1, 2, ttlSecondsAfterFinished=1))
    wait_for(lambda: _status(cluster, "short-lived").get("state") == "SUCCESS", 30, what="SUCCESS")
    wait_for(lambda: cluster.get(API, "Task", "short-lived", "default") is None, 15,
             what="ttlSecondsAfterFinished to delete it")


def test_a_custom_state_shows_its_progress(cluster: Any, start_operator: Callable[..., Any],
                                           k8s_worker: Callable[..., Any]) -> None:
    start_operator()
    k8s_worker()
    cluster.create(task("steps", "k8s.progress", 8, 0.4))
    status = wait_for(lambda: (lambda s: s if s.get("state") == "PROGRESS" and s.get("progress", {}).get("done", 0) >= 1
                               else None)(_status(cluster, "steps")), 30, what="PROGRESS with its meta")
    assert status["progress"]["of"] == 8
    wait_for(lambda: _status(cluster, "steps").get("state") == "SUCCESS", 30, what="SUCCESS")
    final = _status(cluster, "steps")
    assert final["result"] == 8 and "progress" not in final
