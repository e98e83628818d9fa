"""The operator's counters are exported at 0 before their first increment, so that the first
reconcile error of a kind and the first scale event of a pool show in rate() and increase()
(a series that appears at 1 looks to Prometheus like a counter that never moved)."""

from __future__ import annotations

from celeriac_operator import metrics


def test_reconcile_counters_start_at_zero_for_every_kind() -> None:
    for kind in ("Task", "Schedule", "WorkerPool"):
        for name in ("celeriac_operator_reconciles_total", "celeriac_operator_reconcile_errors_total"):
            assert metrics.REGISTRY.get_sample_value(name, {"kind": kind}) is not None, (name, kind)


def test_scale_events_start_at_zero_with_the_pool_and_go_with_it() -> None:
    labels = {"namespace": "ns-start", "pool": "p"}
    metrics.set_pool("ns-start", "p", {}, replicas=0, ready=0, desired=0)
    for direction in ("up", "down"):
        assert metrics.REGISTRY.get_sample_value(
            "celeriac_pool_scale_events_total", {**labels, "direction": direction}) == 0.0
    metrics.POOL_SCALE_EVENTS.labels("ns-start", "p", "up").inc()
    metrics.set_pool("ns-start", "p", {}, replicas=1, ready=0, desired=1)  # not reset by a later poll
    assert metrics.REGISTRY.get_sample_value(
        "celeriac_pool_scale_events_total", {**labels, "direction": "up"}) == 1.0
    metrics.forget_pool("ns-start", "p")
    assert metrics.REGISTRY.get_sample_value(
        "celeriac_pool_scale_events_total", {**labels, "direction": "up"}) is None
