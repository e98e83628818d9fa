"""A WorkerPool's ``status``: figures, conditions, and what the poll saw, as a pure function.

Why it exists: the status is the pool's API (``kubectl get cwp`` columns, ``kubectl wait
--for=condition=Ready``, the scale subresource's ``replicas`` and ``selector``), so it is
built in one place and tested as a function. It must never say ``Ready`` while the queue
figures are unknown: a pool whose operator cannot read the broker cannot scale, and saying
otherwise would hide exactly the outage an alert should see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celeriac_operator.decide.scaling import ScaleDecision


@dataclass(frozen=True)
class PoolFigures:
    """Queue figures summed over the pool's queues (None when they could not be read)."""

    backlog: int
    in_flight: int
    oldest_wait_s: float | None


@dataclass(frozen=True)
class DeploymentView:
    """What the owned Deployment says (absent: all zero, not available)."""

    replicas: int = 0
    ready_replicas: int = 0
    available: bool = False
    exists: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None) -> DeploymentView:
        if not body:
            return cls()
        status: Mapping[str, Any] = body.get("status") or {}
        conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
        available = any(
            c.get("type") == "Available" and c.get("status") == "True" for c in conditions
        )
        return cls(
            replicas=int(status.get("replicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
            available=available,
            exists=True,
        )


def sum_figures(stats: Mapping[str, Any]) -> PoolFigures:
    """Sum ``QueueStats`` (any object with backlog, in_flight, oldest_wait_s)."""
    backlog = in_flight = 0
    oldest: float | None = None
    for s in stats.values():
        backlog += int(s.backlog)
        in_flight += int(s.in_flight)
        if s.oldest_wait_s is not None:
            oldest = max(oldest or 0.0, float(s.oldest_wait_s))
    return PoolFigures(backlog=backlog, in_flight=in_flight, oldest_wait_s=oldest)


def _condition(
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    *,
    previous: Mapping[str, Mapping[str, Any]],
    now_iso: str,
    generation: int | None,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = previous.get(type_)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": since or now_iso,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def pool_status(
    *,
    figures: PoolFigures | None,
    deployment: DeploymentView,
    desired: int,
    decision: ScaleDecision | None,
    autoscaling: bool,
    selector: str,
    generation: int | None,
    previous: Mapping[str, Any],
    now_iso: str,
    figures_error: str | None = None,
    scaled: str | None = None,
) -> dict[str, Any]:
    """The status patch for one poll.

    Args:
        figures: summed queue figures, or None if the broker could not be read.
        deployment: the owned Deployment's view.
        desired: the replica count written to the Deployment.
        decision: the autoscaling decision (None: autoscaling off or figures unknown).
        autoscaling: ``spec.autoscaling.enabled``.
        selector: the pods' label selector (for the scale subresource).
        generation: ``metadata.generation`` seen.
        previous: the current ``status`` (for lastTransitionTime and the last scale).
        now_iso: the time to stamp transitions and scales with (RFC 3339).
        figures_error: why the figures are unknown, for the condition message.
        scaled: set when this poll changed the Deployment's replicas: why (lastScaleReason).

    Returns:
        A merge patch for ``status`` (``oldestWaitSeconds: None`` removes the field).
    """
    old_conditions = {
        str(c.get("type")): c for c in previous.get("conditions") or [] if isinstance(c, Mapping)
    }

    def cond(type_: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
        return _condition(
            type_,
            ok,
            reason,
            message,
            previous=old_conditions,
            now_iso=now_iso,
            generation=generation,
        )

    if figures is None:
        ready = cond(
            "Ready",
            False,
            "FiguresUnknown",
            f"queue figures cannot be read: {figures_error or 'no poll yet'}",
        )
    elif not deployment.exists:
        ready = cond("Ready", False, "DeploymentMissing", "no worker Deployment")
    elif not deployment.available:
        ready = cond(
            "Ready",
            False,
            "DeploymentUnavailable",
            f"{deployment.ready_replicas} of {desired} replicas ready",
        )
    else:
        ready = cond(
            "Ready",
            True,
            "ScaledToZero" if desired == 0 else "Available",
            f"{deployment.ready_replicas} of {desired} replicas ready; queue figures flowing",
        )
    if not autoscaling:
        active = cond("ScalingActive", False, "AutoscalingDisabled", "spec.replicas is used")
    elif figures is None:
        active = cond("ScalingActive", False, "FiguresUnknown", "no queue figures to scale on")
    else:
        active = cond(
            "ScalingActive",
            True,
            "ValidFigures",
            f"backlog {figures.backlog}, in flight {figures.in_flight}",
        )
    if decision is not None and decision.limited:
        reason = (
            "TooManyReplicas"
            if decision.limited_by_max
            else "TooFewReplicas"
            if decision.limited_by_min
            else "ScaleUpLimited"
            if decision.limited_by_rate
            else "BusyPods"
        )
        limited = cond("ScalingLimited", True, reason, decision.reason)
    else:
        limited = cond("ScalingLimited", False, "DesiredWithinRange", "no limit applied")

    status: dict[str, Any] = {
        "replicas": deployment.replicas,
        "readyReplicas": deployment.ready_replicas,
        "desiredReplicas": desired,
        "selector": selector,
        "conditions": [ready, active, limited],
        "lastScaleTime": previous.get("lastScaleTime"),
        "lastScaleReason": previous.get("lastScaleReason"),
    }
    if figures is not None:
        status["backlog"] = figures.backlog
        status["inFlight"] = figures.in_flight
        status["oldestWaitSeconds"] = (
            None if figures.oldest_wait_s is None else round(figures.oldest_wait_s, 1)
        )
    if generation is not None:
        status["observedGeneration"] = generation
    if scaled is not None:
        status["lastScaleTime"] = now_iso
        status["lastScaleReason"] = scaled[:1024]
    return {k: v for k, v in status.items() if v is not None or k == "oldestWaitSeconds"}
