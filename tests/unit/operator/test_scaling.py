"""The WorkerPool scaling decision, case by case (pure: no clock, no cluster, no broker)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from celeriac_operator.decide.scaling import (
    AutoscalingSpec,
    History,
    Observation,
    desired_replicas,
    wake_from_zero,
)

SPEC = AutoscalingSpec(
    min_replicas=0,
    max_replicas=20,
    target_backlog_per_replica=10,
    scale_down_stabilization_s=60,
    scale_to_zero_after_s=120,
)


def obs(
    backlog: int,
    current: int,
    *,
    ready: int | None = None,
    in_flight: int = 0,
    wait: float | None = None,
    idle: int | None = None,
) -> Observation:
    return Observation(
        backlog=backlog,
        in_flight=in_flight,
        oldest_wait_s=wait,
        current_replicas=current,
        ready_replicas=current if ready is None else ready,
        idle_replicas=idle,
    )


@dataclass
class Case:
    name: str
    observation: Observation
    desired: int
    spec: AutoscalingSpec = SPEC
    history: History = field(default_factory=History)
    now: float = 1000.0
    flags: tuple[str, ...] = ()


CASES = [
    Case("steady at target", obs(30, 3), 3),
    Case("scale up on backlog", obs(50, 3), 5),
    Case("in flight counts as backlog", obs(50, 3, in_flight=50), 5),
    Case("within tolerance up (+10%)", obs(33, 3), 3),
    Case("just past tolerance up", obs(34, 3), 4),
    Case("within tolerance down (-10%)", obs(27, 3), 3),
    Case("scale-up step limited", obs(500, 3), 11, flags=("limited_by_rate", "limited_by_max")),
    Case("scale-up step limited, under max", obs(150, 1), 9, flags=("limited_by_rate",)),
    Case("pods still starting count as current", obs(150, 9, ready=1), 15),
    Case(
        "scale-up step of 100% of ready",
        obs(600, 16),
        32,
        spec=AutoscalingSpec(max_replicas=100, target_backlog_per_replica=10),
        flags=("limited_by_rate",),
    ),
    Case(
        "scale-up from zero limited to scaleUpPods",
        obs(1000, 0),
        8,
        flags=("limited_by_rate", "limited_by_max"),
    ),
    Case("wake from zero on one message", obs(1, 0), 1),
    Case(
        "activation holds a pool at zero",
        obs(3, 0),
        0,
        spec=AutoscalingSpec(activation_backlog=5, target_backlog_per_replica=10),
    ),
    Case(
        "activation passed",
        obs(6, 0),
        1,
        spec=AutoscalingSpec(activation_backlog=5, target_backlog_per_replica=10),
    ),
    Case("idle pool at zero stays at zero", obs(0, 0), 0),
    Case(
        "idle, not long enough for zero",
        obs(0, 2),
        1,
        history=History(last_work_at=950.0),
    ),
    Case(
        "idle long enough: zero",
        obs(0, 2),
        0,
        history=History(last_work_at=800.0, recommendations=((990.0, 1),)),
    ),
    Case("never saw work: zero", obs(0, 1), 0),
    Case(
        "scale-down held by the window",
        obs(10, 5),
        5,
        history=History(recommendations=((970.0, 5),), last_work_at=990.0),
    ),
    Case(
        "scale-down to the highest recommendation of the window",
        obs(10, 5),
        3,
        history=History(recommendations=((900.0, 5), (970.0, 3)), last_work_at=990.0),
    ),
    Case(
        "scale-up stabilization takes the lowest recommendation",
        obs(80, 2),
        4,
        spec=AutoscalingSpec(target_backlog_per_replica=10, scale_up_stabilization_s=30),
        history=History(recommendations=((980.0, 4), (990.0, 6))),
    ),
    Case(
        "minReplicas floor",
        obs(0, 2),
        2,
        spec=AutoscalingSpec(min_replicas=2, target_backlog_per_replica=10),
        flags=("limited_by_min",),
    ),
    Case(
        "target wait asks for more while all ready",
        obs(20, 2, wait=30.0),
        4,
        spec=AutoscalingSpec(target_backlog_per_replica=10, target_wait_s=10),
    ),
    Case(
        "target wait ignored while pods start",
        obs(20, 2, ready=1, wait=30.0),
        2,
        spec=AutoscalingSpec(target_backlog_per_replica=10, target_wait_s=10),
    ),
    Case(
        "target wait under target: backlog rule",
        obs(20, 2, wait=5.0),
        2,
        spec=AutoscalingSpec(target_backlog_per_replica=10, target_wait_s=10),
    ),
    Case(
        "scale-down limited to idle pods",
        obs(10, 5, idle=1),
        4,
        history=History(last_work_at=999.0),
        spec=AutoscalingSpec(target_backlog_per_replica=10, scale_down_stabilization_s=0),
        flags=("limited_by_busy",),
    ),
    Case(
        "no idle pod: no scale-down",
        obs(10, 5, idle=0),
        5,
        spec=AutoscalingSpec(target_backlog_per_replica=10, scale_down_stabilization_s=0),
        flags=("limited_by_busy",),
    ),
    Case(
        "enough idle pods: full scale-down",
        obs(10, 5, idle=4),
        1,
        spec=AutoscalingSpec(target_backlog_per_replica=10, scale_down_stabilization_s=0),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(case: Case) -> None:
    d = desired_replicas(case.observation, case.spec, case.history, case.now)
    assert d.desired == case.desired, d.reason
    for flag in ("limited_by_max", "limited_by_min", "limited_by_rate", "limited_by_busy"):
        assert getattr(d, flag) == (flag in case.flags), (flag, d.reason)
    assert d.limited == bool(case.flags)
    assert d.reason


def test_history_rolls_and_prunes() -> None:
    spec = AutoscalingSpec(target_backlog_per_replica=10, scale_down_stabilization_s=60)
    h = History(recommendations=((100.0, 9), (950.0, 4)))
    d = desired_replicas(obs(20, 4), spec, h, 1000.0)
    # The 100 s entry fell out of the 60 s window; the new recommendation was appended.
    assert d.history.recommendations == ((950.0, 4), (1000.0, 2))
    assert d.desired == 4 and d.direction is None
    assert d.history.last_work_at == 1000.0


def test_scale_down_after_the_window_passes() -> None:
    """A burst drains: the count falls only once the window no longer holds the high need."""
    spec = AutoscalingSpec(target_backlog_per_replica=10, scale_down_stabilization_s=30)
    h = History()
    d = desired_replicas(obs(100, 10), spec, h, 0.0)
    assert d.desired == 10
    current, t, seen = 10, 0.0, []
    for backlog in (10, 10, 10, 10, 10, 10, 10, 10):
        t += 5.0
        d = desired_replicas(obs(backlog, current), spec, d.history, t)
        current = d.desired
        seen.append(current)
    assert seen[:5] == [10] * 5  # within 30 s of the 10-replica recommendation
    assert seen[-1] == 1 and d.direction is None
    assert any(x == 1 for x in seen[5:])


def test_wake_from_zero_event() -> None:
    d = wake_from_zero(SPEC, History(), 5.0)
    assert d.desired == 1 and d.direction == "up" and d.history.last_work_at == 5.0
    held = wake_from_zero(AutoscalingSpec(activation_backlog=3), History(), 5.0)
    assert held.desired == 0


def test_from_spec_reads_the_cr_fields() -> None:
    s = AutoscalingSpec.from_spec(
        {
            "autoscaling": {
                "enabled": False,
                "minReplicas": 1,
                "maxReplicas": 7,
                "targetBacklogPerReplica": 3,
                "targetWaitSeconds": 12,
                "activationBacklog": 2,
                "pollIntervalSeconds": 1,
                "scaleUpStabilizationSeconds": 4,
                "scaleDownStabilizationSeconds": 5,
                "scaleToZeroAfterSeconds": 6,
                "tolerance": 0.2,
                "scaleUpPods": 8,
                "scaleUpPercent": 50,
            }
        }
    )
    assert s == AutoscalingSpec(
        enabled=False,
        min_replicas=1,
        max_replicas=7,
        target_backlog_per_replica=3,
        target_wait_s=12.0,
        activation_backlog=2,
        poll_interval_s=1.0,
        scale_up_stabilization_s=4.0,
        scale_down_stabilization_s=5.0,
        scale_to_zero_after_s=6.0,
        tolerance=0.2,
        scale_up_pods=8,
        scale_up_percent=50,
    )
    assert AutoscalingSpec.from_spec({}) == AutoscalingSpec()
