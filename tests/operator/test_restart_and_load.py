"""The operator killed mid-way enqueues nothing twice; many Tasks at once all finish
(coalesced, rate-limited status writes); a standby replica takes over the Lease."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import wait_for
from operator_helpers import API, runs_of, task


def _states(cluster: Any) -> dict[str, str | None]:
    return {o["metadata"]["name"]: (o.get("status") or {}).get("state")
            for o in cluster.list(API, "Task", "default")}


def test_an_operator_killed_mid_way_enqueues_nothing_twice(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any],
        marker_dir: Path) -> None:
    k8s_worker(4)
    first = start_operator()
    for i in range(40):
        cluster.create(task(f"r-{i}", "k8s.sleep_add", i, 1, kwargs={"delay": 0.2}))
    # Kill it while Tasks are being enqueued and run (some finished, some running, some
    # maybe not reached yet), then start another.
    wait_for(lambda: sum(1 for s in _states(cluster).values() if s) >= 10, 30, what="some enqueued")
    first.kill()
    time.sleep(0.5)
    start_operator()
    for i in range(40, 50):
        cluster.create(task(f"r-{i}", "k8s.sleep_add", i, 1, kwargs={"delay": 0.05}))
    wait_for(lambda: all(s == "SUCCESS" for s in _states(cluster).values()), 60,
             what="all 50 SUCCESS")
    runs = runs_of(marker_dir)
    uids = {o["metadata"]["uid"] for o in cluster.list(API, "Task", "default")}
    assert set(runs) == uids
    assert max(runs.values()) == 1, {k: v for k, v in runs.items() if v > 1}
    for obj in cluster.list(API, "Task", "default"):
        assert obj["status"]["result"] == int(obj["spec"]["args"][0]) + 1
    wait_for(lambda: not any(o["metadata"].get("finalizers") for o in cluster.list(API, "Task", "default")),
             15, what="every finalizer to go (the Tasks are finished)")


def _many(cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any], n: int,
          timeout: float) -> None:
    k8s_worker(16)
    op = start_operator()
    before = len(cluster.requests)
    for i in range(n):
        cluster.create(task(f"m-{i}", "k8s.add", i, i))
    # Listing every object costs the emulator's loop (shared with the operator): poll gently.
    wait_for(lambda: list(_states(cluster).values()).count("SUCCESS") == n, timeout,
             interval=max(0.2, n / 1000), what=f"all {n} SUCCESS")
    for obj in cluster.list(API, "Task", "default"):
        assert obj["status"]["result"] == 2 * int(obj["spec"]["args"][0])
    metrics = op.metrics()
    assert "celeriac_operator_enqueue_latency_seconds_count" in metrics
    # Every request after the creations: the operator's (kopf's and its own) plus our polls.
    assert len(cluster.requests) - before < n * 12


def test_200_tasks_at_once_all_reach_success(cluster: Any, start_operator: Callable[..., Any],
                                             k8s_worker: Callable[..., Any]) -> None:
    _many(cluster, start_operator, k8s_worker, 200, 60)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_1000_tasks_at_once_all_reach_success(cluster: Any, start_operator: Callable[..., Any],
                                              k8s_worker: Callable[..., Any]) -> None:
    _many(cluster, start_operator, k8s_worker, 1000, 180)


def test_a_standby_replica_takes_over_when_the_leader_dies(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any]) -> None:
    k8s_worker()
    leader = start_operator("--peering-priority", "100")
    standby = start_operator("--peering-priority", "10")  # ready as a standby
    assert "celeriac_operator_leader 1.0" in leader.metrics()
    assert "celeriac_operator_leader 0.0" in standby.metrics()
    for replica in (leader, standby):
        assert (replica.probe("/livez"), replica.probe("/readyz")) == (200, 200)
    cluster.create(task("before", "k8s.add", 1, 1))
    wait_for(lambda: _states(cluster).get("before") == "SUCCESS", 30, what="the leader to serve")
    leader.kill()
    killed = time.monotonic()
    cluster.create(task("after", "k8s.add", 2, 2))
    wait_for(lambda: _states(cluster).get("after") == "SUCCESS", 30, what="the standby to take over")
    assert time.monotonic() - killed < 15
    assert "celeriac_operator_leader 1.0" in standby.metrics()
    metrics = standby.metrics()
    for name in ("celeriac_operator_reconciles_total{kind=\"Task\"}", "celeriac_operator_status_lag_seconds_bucket",
                 "celeriac_operator_enqueue_latency_seconds_bucket", "celeriac_operator_reconcile_errors_total"):
        assert name in metrics, name
    lease = cluster.get("coordination.k8s.io/v1", "Lease", "celeriac-operator", "default")
    assert lease["spec"]["leaseTransitions"] >= 1


def test_a_leader_that_loses_its_lease_steps_down_and_exits(
        cluster: Any, start_operator: Callable[..., Any]) -> None:
    leader = start_operator()
    lease = cluster.get("coordination.k8s.io/v1", "Lease", "celeriac-operator", "default")
    lease["spec"]["holderIdentity"] = "someone-else"
    cluster.replace(lease)
    wait_for(lambda: leader.proc.poll() is not None, 15, what="the old leader to exit")
    assert leader.proc.returncode == 1  # Kubernetes restarts it, as a standby
