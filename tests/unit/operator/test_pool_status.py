"""WorkerPool status: never Ready without queue figures; conditions keep their transition time."""

from __future__ import annotations

from typing import Any

from celeriac import QueueStats
from celeriac_operator.decide.pool_status import (
    DeploymentView,
    PoolFigures,
    pool_status,
    sum_figures,
)
from celeriac_operator.decide.scaling import AutoscalingSpec, History, Observation, desired_replicas

AVAILABLE = DeploymentView(replicas=2, ready_replicas=2, available=True, exists=True)
T0, T1 = "2026-12-01T10:00:00Z", "2026-12-01T10:00:05Z"


def status(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "figures": PoolFigures(backlog=7, in_flight=3, oldest_wait_s=1.234),
        "deployment": AVAILABLE,
        "desired": 2,
        "decision": None,
        "autoscaling": True,
        "selector": "a=b",
        "generation": 4,
        "previous": {},
        "now_iso": T0,
    }
    args.update(kw)
    return pool_status(**args)


def conds(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in st["conditions"]}


def test_ready_with_figures_and_an_available_deployment() -> None:
    st = status()
    assert st["replicas"] == 2 and st["readyReplicas"] == 2 and st["desiredReplicas"] == 2
    assert (st["backlog"], st["inFlight"], st["oldestWaitSeconds"]) == (7, 3, 1.2)
    assert st["selector"] == "a=b" and st["observedGeneration"] == 4
    c = conds(st)
    assert c["Ready"]["status"] == "True" and c["Ready"]["reason"] == "Available"
    assert c["ScalingActive"]["status"] == "True"
    assert c["ScalingLimited"]["status"] == "False"
    assert c["Ready"]["observedGeneration"] == 4


def test_never_ready_while_figures_are_unknown() -> None:
    st = status(figures=None, figures_error="connection refused")
    c = conds(st)
    assert c["Ready"]["status"] == "False" and c["Ready"]["reason"] == "FiguresUnknown"
    assert "connection refused" in c["Ready"]["message"]
    assert c["ScalingActive"]["status"] == "False"
    assert "backlog" not in st  # unknown figures are not written as zeros


def test_not_ready_while_the_deployment_is_unavailable_or_missing() -> None:
    st = status(deployment=DeploymentView(replicas=2, ready_replicas=1, exists=True))
    assert conds(st)["Ready"]["reason"] == "DeploymentUnavailable"
    assert conds(status(deployment=DeploymentView()))["Ready"]["reason"] == "DeploymentMissing"


def test_at_zero_ready_means_scaled_to_zero() -> None:
    dep = DeploymentView(replicas=0, ready_replicas=0, available=True, exists=True)
    st = status(deployment=dep, desired=0, figures=PoolFigures(0, 0, None))
    assert conds(st)["Ready"]["reason"] == "ScaledToZero"
    assert st["oldestWaitSeconds"] is None  # the merge patch removes it


def test_transition_time_kept_while_status_holds() -> None:
    first = status()
    again = status(previous=first, now_iso=T1)
    assert conds(again)["Ready"]["lastTransitionTime"] == T0
    flipped = status(previous=first, now_iso=T1, figures=None)
    assert conds(flipped)["Ready"]["lastTransitionTime"] == T1


def test_limited_and_scaled() -> None:
    d = desired_replicas(
        Observation(
            backlog=1000, in_flight=0, oldest_wait_s=None, current_replicas=2, ready_replicas=2
        ),
        AutoscalingSpec(max_replicas=5),
        History(),
        0.0,
    )
    st = status(decision=d, desired=d.desired, scaled="2 -> 5: backlog", now_iso=T1)
    c = conds(st)
    assert (
        c["ScalingLimited"]["status"] == "True"
        and c["ScalingLimited"]["reason"] == "TooManyReplicas"
    )
    assert st["lastScaleTime"] == T1 and st["lastScaleReason"] == "2 -> 5: backlog"
    kept = status(previous=st, now_iso="2026-12-01T11:00:00Z")
    assert kept["lastScaleTime"] == T1  # no scale this poll: the last one stays


def test_autoscaling_off() -> None:
    assert conds(status(autoscaling=False))["ScalingActive"]["reason"] == "AutoscalingDisabled"


def test_sum_figures_over_queues() -> None:
    a = QueueStats("a", waiting=3, delayed=7, due=1, in_flight=2, dead=9, oldest_wait_s=4.0)
    b = QueueStats("b", waiting=0, delayed=0, due=0, in_flight=5, dead=0)
    assert sum_figures({"a": a, "b": b}) == PoolFigures(backlog=11, in_flight=7, oldest_wait_s=4.0)
    assert sum_figures({}) == PoolFigures(0, 0, None)


def test_deployment_view_reads_available() -> None:
    body = {"status": {"replicas": 3, "readyReplicas": 2,
                       "conditions": [{"type": "Available", "status": "True"}]}}  # fmt: skip
    assert DeploymentView.from_body(body) == DeploymentView(3, 2, True, True)
    assert DeploymentView.from_body(None) == DeploymentView()
