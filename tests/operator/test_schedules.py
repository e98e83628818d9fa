"""Schedule objects end to end: synced to the beat registry, fired by two real beats about
once a second, status copied back, suspend pauses, delete removes; createTasks mirrors runs
as owned Task objects within the history limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import wait_for
from operator_helpers import API, runs_of


def _schedule(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Schedule", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def _status(cluster: Any, name: str) -> dict[str, Any]:
    obj = cluster.get(API, "Schedule", name, "default") or {}
    return dict(obj.get("status") or {})


def _conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


@pytest.fixture
def beats(cli_worker: Callable[..., Any], marker_dir: Path) -> list[Any]:
    return [cli_worker("-A", "k8sapp", "beat", "--lease-ttl", "2", "--renew-interval", "0.5",
                       env={"CELERIAC_TEST_MARKER_DIR": str(marker_dir)}) for _ in range(2)]


def test_every_second_with_two_beats_status_moves_and_suspend_stops_it(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any],
        beats: list[Any], marker_dir: Path, make_app: Callable[..., Any]) -> None:
    start_operator(env={"CELERIAC_OPERATOR_SCHEDULE_POLL_S": "0.5"})
    k8s_worker()
    cluster.create(_schedule("tick", task="k8s.mark", every="1s", args=["t"]))
    wait_for(lambda: _status(cluster, "tick").get("runCount", 0) >= 2, 30, what="two runs")
    status = _status(cluster, "tick")
    assert _conditions(status) == {"Synced": "True", "Suspended": "False"}
    assert status["observedGeneration"] == 1 and status["lastTaskId"]
    first_last = status["lastScheduleTime"]
    # About once a second: count the runs the worker made over a few seconds.
    before, t0 = sum(runs_of(marker_dir).values()), time.monotonic()
    time.sleep(4.0)
    fired = sum(runs_of(marker_dir).values()) - before
    elapsed = time.monotonic() - t0
    assert elapsed - 2 <= fired <= elapsed + 1, (fired, elapsed)
    assert max(runs_of(marker_dir).values()) == 1  # no tick fired twice by the two beats
    moved = _status(cluster, "tick")
    assert moved["lastScheduleTime"] > first_last and moved["runCount"] > status["runCount"]
    assert moved["lastState"] in ("PENDING", "STARTED", "SUCCESS")
    assert moved["nextScheduleTime"] > moved["lastScheduleTime"]
    # suspend: true pauses it
    cluster.patch(API, "Schedule", "tick", {"spec": {"suspend": True}}, "default")
    wait_for(lambda: _conditions(_status(cluster, "tick")).get("Suspended") == "True", 15,
             what="Suspended=True")
    time.sleep(1.5)  # a run published just before the pause may still execute
    paused_runs = sum(runs_of(marker_dir).values())
    time.sleep(3.0)
    assert sum(runs_of(marker_dir).values()) == paused_runs
    assert "nextScheduleTime" not in _status(cluster, "tick")
    app = make_app()
    assert app.schedules.get("default/tick").entry.enabled is False
    # delete removes the registry entry
    cluster.delete(API, "Schedule", "tick", "default")
    wait_for(lambda: cluster.get(API, "Schedule", "tick", "default") is None, 15, what="deleted")
    with pytest.raises(KeyError):
        app.schedules.get("default/tick")


def test_create_tasks_mirrors_runs_within_the_history_limit(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any],
        beats: list[Any], marker_dir: Path) -> None:
    start_operator(env={"CELERIAC_OPERATOR_SCHEDULE_POLL_S": "0.5"})
    k8s_worker()
    cluster.create(_schedule("mirrored", task="k8s.add", args=[20, 22], every="1s", createTasks=True,
                             successfulTasksHistoryLimit=2))
    sched = cluster.get(API, "Schedule", "mirrored", "default")

    def runs() -> list[dict[str, Any]]:
        return cluster.list(API, "Task", "default", label_selector="celeriac.dev/schedule=mirrored")

    wait_for(lambda: sum(1 for t in runs() if (t.get("status") or {}).get("state") == "SUCCESS") >= 2,
             30, what="two mirrored runs SUCCESS")
    for t in runs():
        assert t["metadata"]["ownerReferences"][0]["uid"] == sched["metadata"]["uid"]
        assert t["metadata"]["annotations"]["celeriac.dev/task-id"]
        if (t.get("status") or {}).get("state") == "SUCCESS":
            assert t["status"]["result"] == 42
            assert t["status"]["taskId"] == t["metadata"]["annotations"]["celeriac.dev/task-id"]
    time.sleep(3)
    finished = [t for t in runs() if (t.get("status") or {}).get("state") == "SUCCESS"]
    assert len(finished) <= 3  # the limit, plus one that finished since the last prune
    assert _status(cluster, "mirrored")["runCount"] >= 4
