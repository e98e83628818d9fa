"""The WorkerPool controller's pure helpers: deletion costs from live workers, the template
hash that keeps an unchanged spec from rolling pods, and the status-change test."""

from __future__ import annotations

from types import SimpleNamespace

from celeriac_operator.decide.manifests import deployment_for
from celeriac_operator.pools import _changed, running_by_pod, template_hash


def w(host: str, running: tuple[str, ...] = (), in_flight: int = 0) -> SimpleNamespace:
    return SimpleNamespace(hostname=host, running=running, in_flight=in_flight)


def test_costs_count_running_tasks_first() -> None:
    costs = running_by_pod(
        [
            w("pod-a"),
            w("pod-b", ("t1", "t2"), 3),
            w("celeriac@pod-c", (), 2),  # holds prefetched work, runs nothing
            w("pod-d", ("t3",), 1),
            w("pod-d", ("t4",), 1),  # a second process of the same pod
        ]
    )
    assert costs == {"pod-a": 0, "pod-b": 2001, "pod-c": 2, "pod-d": 2000}
    assert sorted(costs, key=costs.__getitem__) == ["pod-a", "pod-c", "pod-d", "pod-b"]


def test_template_hash_ignores_replicas_only() -> None:
    pool = {"metadata": {"name": "p", "namespace": "n", "uid": "u"}, "spec": {"app": "a"}}
    one, three = deployment_for(pool, replicas=1), deployment_for(pool, replicas=3)
    assert template_hash(one) == template_hash(three)
    changed = {**pool, "spec": {"app": "a", "concurrency": 2}}
    assert template_hash(deployment_for(changed, replicas=1)) != template_hash(one)


def test_status_change_ignores_transition_times() -> None:
    cond = {"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "t1"}
    old = {"backlog": 3, "conditions": [cond]}
    assert not _changed(old, {"backlog": 3, "conditions": [{**cond, "lastTransitionTime": "t2"}]})
    assert _changed(old, {"backlog": 4, "conditions": [cond]})
    assert _changed(old, {"conditions": [{**cond, "status": "False"}]})
