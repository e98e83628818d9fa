"""How many worker replicas a WorkerPool should run: one pure function of what was observed.

The operator polls the queue figures itself (so it works with zero workers) and calls
``desired_replicas`` with them, the pool's ``spec.autoscaling``, the history the previous call
returned, and ``now``. Nothing here touches the clock, kopf, the Kubernetes API or a broker:
the same function drives the operator, the unit tables in ``tests/unit/operator`` and the
simulation in ``bench/autoscale_sim.py``.

The rule, in the order it is applied:

1. **Need from backlog**: ``ceil(backlog / targetBacklogPerReplica)`` where backlog counts
   waiting, due delayed *and* in-flight (prefetched or running) messages — the work KEDA's
   list-length scaler cannot see.
2. **HPA-like tolerance**: a need within ``tolerance`` (0.1) of the current replicas keeps
   the current count (no flapping on small changes).
3. **targetWaitSeconds**: if the oldest waiting message is older than the target while every
   replica is ready (so the wait is not just pods still starting), ask for proportionally more.
4. **Activation and scale to zero**: a backlog at or under ``activationBacklog`` does not
   wake a pool at zero; an empty backlog keeps one replica until ``scaleToZeroAfterSeconds``
   have passed since the last work was seen, then allows zero.
5. **Stabilization** as the HPA defines it: the result is the current count, raised to the
   lowest recommendation of the scale-up window and lowered to the highest recommendation of
   the scale-down window. Going to zero has its own window (step 4) and skips this one.
6. **Scale-up limit**: one decision adds at most ``max(scaleUpPods, current * scaleUpPercent
   / 100)`` replicas (from zero: ``scaleUpPods``), the HPA's default policies applied per
   poll. (Counting the step from the *ready* replicas instead saves pod-seconds on bursts
   but, in ``bench/autoscale_sim.py``, misses the wait goal on a spike; not done.)
7. **Busy-aware scale-down**: when the caller says how many pods are idle right now, one
   decision removes at most that many (busy pods are never picked while idle ones exist,
   and none is picked at all if none is idle), so scale-down never interrupts a task.
8. **Limits**: ``minReplicas`` .. ``maxReplicas``.

It must not read wall-clock time or keep state of its own: the history is a value returned
with the decision and passed back in by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: HPA's default tolerance: needs within 10% of the current replicas change nothing.
DEFAULT_TOLERANCE = 0.1
#: Default target backlog per replica (the CRD default: a worker runs 4 tasks at a time).
DEFAULT_TARGET_BACKLOG = 4


@dataclass(frozen=True)
class AutoscalingSpec:
    """``spec.autoscaling`` of a WorkerPool, with the CRD's defaults."""

    enabled: bool = True
    min_replicas: int = 0
    max_replicas: int = 10
    target_backlog_per_replica: int = DEFAULT_TARGET_BACKLOG
    target_wait_s: float | None = None
    activation_backlog: int = 0
    poll_interval_s: float = 5.0
    scale_up_stabilization_s: float = 0.0
    scale_down_stabilization_s: float = 30.0
    scale_to_zero_after_s: float = 120.0
    tolerance: float = DEFAULT_TOLERANCE
    scale_up_pods: int = 8
    scale_up_percent: int = 100

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> AutoscalingSpec:
        """Read ``spec.autoscaling`` (camelCase, as in the CR); absent keys keep defaults."""
        a: Mapping[str, Any] = spec.get("autoscaling") or {}
        d = cls()
        wait = a.get("targetWaitSeconds")
        return cls(
            enabled=bool(a.get("enabled", d.enabled)),
            min_replicas=int(a.get("minReplicas", d.min_replicas)),
            max_replicas=int(a.get("maxReplicas", d.max_replicas)),
            target_backlog_per_replica=int(
                a.get("targetBacklogPerReplica", d.target_backlog_per_replica)
            ),
            target_wait_s=None if wait is None else float(wait),
            activation_backlog=int(a.get("activationBacklog", d.activation_backlog)),
            poll_interval_s=float(a.get("pollIntervalSeconds", d.poll_interval_s)),
            scale_up_stabilization_s=float(
                a.get("scaleUpStabilizationSeconds", d.scale_up_stabilization_s)
            ),
            scale_down_stabilization_s=float(
                a.get("scaleDownStabilizationSeconds", d.scale_down_stabilization_s)
            ),
            scale_to_zero_after_s=float(a.get("scaleToZeroAfterSeconds", d.scale_to_zero_after_s)),
            tolerance=float(a.get("tolerance", d.tolerance)),
            scale_up_pods=int(a.get("scaleUpPods", d.scale_up_pods)),
            scale_up_percent=int(a.get("scaleUpPercent", d.scale_up_percent)),
        )


@dataclass(frozen=True)
class Observation:
    """What the operator saw on one poll, summed over the pool's queues.

    ``idle_replicas`` is the number of the pool's pods running nothing at this moment (from
    the live-workers list), or None when unknown; it bounds how many pods one decision removes.
    """

    backlog: int
    in_flight: int
    oldest_wait_s: float | None
    current_replicas: int
    ready_replicas: int
    idle_replicas: int | None = None


@dataclass(frozen=True)
class History:
    """What the decision remembers between polls (returned with each decision)."""

    #: (time, recommendation) pairs inside the longest stabilization window.
    recommendations: tuple[tuple[float, int], ...] = ()
    #: Last time any work (backlog above zero) was seen; None = never.
    last_work_at: float | None = None
    #: Last time the decision changed the replica count.
    last_scale_at: float | None = None


@dataclass(frozen=True)
class ScaleDecision:
    """The outcome of one decision: ``desired`` replicas and why."""

    desired: int
    #: The replicas observed when deciding.
    current: int
    reason: str
    #: What the backlog (and target wait) asked for before windows, steps and limits.
    recommended: int
    limited_by_max: bool = False
    limited_by_min: bool = False
    limited_by_rate: bool = False
    limited_by_busy: bool = False
    history: History = field(default_factory=History)

    @property
    def limited(self) -> bool:
        """True when a limit (max, min, step, busy pods) held the count back."""
        return (
            self.limited_by_max
            or self.limited_by_min
            or self.limited_by_rate
            or self.limited_by_busy
        )

    @property
    def direction(self) -> str | None:
        """``"up"``, ``"down"`` or None, relative to the replicas observed."""
        if self.desired > self.current:
            return "up"
        return "down" if self.desired < self.current else None


def _need(obs: Observation, spec: AutoscalingSpec) -> tuple[int, str]:
    """Replicas the backlog asks for, with tolerance and the target wait applied."""
    current = obs.current_replicas
    target = max(1, spec.target_backlog_per_replica)
    need = math.ceil(obs.backlog / target)
    reason = f"backlog {obs.backlog} / target {target} per replica"
    if current > 0 and need > 0:
        ratio = obs.backlog / (target * current)
        if abs(ratio - 1.0) <= spec.tolerance + 1e-9:  # 33/30 is 1.1000000000000001
            need = current
            reason = f"backlog {obs.backlog} within tolerance of {current} replicas"
    wait = obs.oldest_wait_s
    if (
        spec.target_wait_s is not None
        and spec.target_wait_s > 0
        and wait is not None
        and wait > spec.target_wait_s
        and current > 0
        and obs.ready_replicas >= current
    ):
        by_wait = max(current + 1, math.ceil(current * min(2.0, wait / spec.target_wait_s)))
        if by_wait > need:
            need = by_wait
            reason = f"oldest wait {wait:.1f}s over target {spec.target_wait_s:g}s"
    return need, reason


def desired_replicas(
    obs: Observation, spec: AutoscalingSpec, history: History, now: float
) -> ScaleDecision:
    """Decide the replica count for one poll.

    Args:
        obs: the figures seen on this poll.
        spec: the pool's autoscaling settings (``AutoscalingSpec.from_spec``).
        history: what the previous decision returned (``History()`` the first time).
        now: the time of the observation, in seconds (any monotonic origin).

    Returns:
        The decision; pass its ``history`` to the next call.
    """
    current = obs.current_replicas
    last_work_at = now if obs.backlog > 0 else history.last_work_at
    need, reason = _need(obs, spec)

    # Activation: a pool at zero wakes only for more than activationBacklog messages.
    if current == 0 and obs.backlog <= spec.activation_backlog:
        need = 0
        reason = f"backlog {obs.backlog} at or under activation {spec.activation_backlog}"
    elif current > 0 and need == 0:
        idle_for = math.inf if last_work_at is None else now - last_work_at
        if idle_for < spec.scale_to_zero_after_s:
            need = 1
            reason = f"idle {idle_for:.0f}s of {spec.scale_to_zero_after_s:g}s before zero"
        else:
            reason = f"idle {idle_for:.0f}s: scale to zero allowed"
    recommended = need

    # Stabilization (HPA): keep the current count, raised to the lowest recommendation of the
    # scale-up window and lowered to the highest of the scale-down window.
    horizon = max(spec.scale_up_stabilization_s, spec.scale_down_stabilization_s)
    recs = tuple((t, r) for t, r in history.recommendations if t > now - horizon)
    up_rec = down_rec = need
    for t, r in recs:
        if t > now - spec.scale_up_stabilization_s:
            up_rec = min(up_rec, r)
        if t > now - spec.scale_down_stabilization_s:
            down_rec = max(down_rec, r)
    stabilized = current
    if stabilized < up_rec:
        stabilized = up_rec
    if stabilized > down_rec:
        stabilized = down_rec
    if need == 0:
        # Zero has its own window (scaleToZeroAfterSeconds, already waited out above).
        stabilized = 0
    if stabilized != need:
        reason += f"; held at {stabilized} by the stabilization window"
    desired = stabilized

    limited_by_rate = limited_by_busy = limited_by_max = limited_by_min = False
    if desired > spec.max_replicas:
        desired = spec.max_replicas
        limited_by_max = True
        reason += f"; capped at maxReplicas {spec.max_replicas}"
    if desired > current:
        step = max(spec.scale_up_pods, math.floor(current * spec.scale_up_percent / 100))
        if desired > current + step:
            desired = current + step
            limited_by_rate = True
            reason += f"; scale-up step limited to {step}"
    elif desired < current and obs.idle_replicas is not None:
        floor = current - max(0, obs.idle_replicas)
        if desired < floor:
            desired = floor
            limited_by_busy = True
            reason += f"; only {obs.idle_replicas} idle pods may be removed"

    if desired < spec.min_replicas:
        desired = spec.min_replicas
        limited_by_min = need < spec.min_replicas
        reason += f"; raised to minReplicas {spec.min_replicas}"

    new_history = History(
        recommendations=(*recs, (now, recommended)),
        last_work_at=last_work_at,
        last_scale_at=now if desired != current else history.last_scale_at,
    )
    return ScaleDecision(
        desired=desired,
        current=current,
        reason=reason,
        recommended=recommended,
        limited_by_max=limited_by_max,
        limited_by_min=limited_by_min,
        limited_by_rate=limited_by_rate,
        limited_by_busy=limited_by_busy,
        history=new_history,
    )


def wake_from_zero(
    spec: AutoscalingSpec, history: History, now: float, *, backlog: int = 1
) -> ScaleDecision:
    """The decision on a ``task-sent`` event to an empty queue of a pool at zero replicas.

    Same rule as a poll, with the event standing for the backlog it announces (the next poll
    corrects the count with real figures).
    """
    obs = Observation(
        backlog=backlog, in_flight=0, oldest_wait_s=0.0, current_replicas=0, ready_replicas=0
    )
    return desired_replicas(obs, spec, history, now)


__all__ = [
    "AutoscalingSpec",
    "History",
    "Observation",
    "ScaleDecision",
    "desired_replicas",
    "wake_from_zero",
]
