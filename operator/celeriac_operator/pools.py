"""The WorkerPool controller: one poll loop per pool, the owned Deployment, busy-aware scale-down.

Why it exists: a WorkerPool is not reconciled once per change like a Task; it is watched
all the time (the queue moves without any Kubernetes event). Each pool gets a loop here
that, every ``pollIntervalSeconds`` and at once when woken:

1. reads the queue figures itself (``app.queue_stats``: works at zero workers);
2. asks the pure decision (``decide.scaling``) how many replicas to run (or takes
   ``spec.replicas`` with autoscaling off);
3. before lowering replicas, reads what every worker runs *now* (``app.live_workers``) and
   writes ``controller.kubernetes.io/pod-deletion-cost`` on the pool's pods (idle pods
   cheapest, pods without a worker cheaper still), and lowers by no more pods than are idle;
4. creates, rolls (when the pod template changed) or scales the Deployment;
5. writes the status (``decide.pool_status``) and the per-pool metrics.

A ``task-sent`` event for a queue of a pool at zero replicas wakes its loop (``on_event``,
fed by the operator's one events reader), so a pool at zero does not wait for the next poll.

It does no Kubernetes or broker I/O of its own: the runtime calls go through
``queue.Runtime`` and the API calls through ``kube.Kube`` (both run off the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from celeriac_operator import metrics
from celeriac_operator.decide import manifests
from celeriac_operator.decide.pool_status import (
    DeploymentView,
    PoolFigures,
    pool_status,
    sum_figures,
)
from celeriac_operator.decide.scaling import (
    AutoscalingSpec,
    History,
    Observation,
    ScaleDecision,
    desired_replicas,
)
from celeriac_operator.kube import ObjectRef

logger = logging.getLogger(__name__)

#: Annotation on the Deployment: hash of the manifest we last wrote (minus replicas), so an
#: unchanged spec never rolls the pods even though the API server adds defaults.
TEMPLATE_HASH = "celeriac.dev/template-hash"
#: The WorkerPool plural (for status patches).
PLURAL = "workerpools"


class PoolRuntime(Protocol):
    """What the controller needs of the runtime (``queue.Runtime``)."""

    async def queue_stats(self, queues: Sequence[str]) -> Mapping[str, Any]: ...

    async def live_workers(self) -> list[Any]: ...


class PoolKube(Protocol):
    """What the controller needs of the API (``kube.Kube``)."""

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_deployment(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    async def replace_deployment_spec(
        self, namespace: str, name: str, body: Mapping[str, Any]
    ) -> None: ...

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None: ...

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    async def annotate_pod(
        self, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> None: ...

    async def patch_pool_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None: ...

    async def post_event(
        self, ref: ObjectRef, *, type_: str, reason: str, message: str
    ) -> None: ...


@dataclass
class _Pool:
    body: Mapping[str, Any]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    history: History = field(default_factory=History)
    status: dict[str, Any] = field(default_factory=dict)
    replicas: int | None = None
    task: asyncio.Task[None] | None = None

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def spec(self) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = self.body.get("spec") or {}
        return spec

    @property
    def queues(self) -> list[str]:
        return [str(q) for q in self.spec.get("queues") or ["default"]]


def template_hash(manifest: Mapping[str, Any]) -> str:
    """Hash of what we own in the Deployment (everything but the replica count)."""
    spec = {k: v for k, v in manifest["spec"].items() if k != "replicas"}
    text = json.dumps({"spec": spec, "labels": manifest["metadata"].get("labels")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pod_of(hostname: str) -> str:
    """The pod a worker runs in: its hostname, or what follows ``celeriac@``."""
    return hostname.rsplit("@", 1)[-1]


def running_by_pod(workers: Sequence[Any]) -> dict[str, int]:
    """Deletion cost per pod from ``WorkerInfo``s: 1000 per task running now, plus the
    messages it holds (up to 999) as a tie-break.

    ``running`` is current to a fraction of a second (the runtime keeps it so); ``in_flight``
    follows the heartbeat and may lag by seconds, so it only orders pods that run nothing.
    A pod's processes are summed (a prefork worker may register more than one).
    """
    out: dict[str, int] = {}
    for w in workers:
        pod = _pod_of(str(w.hostname))
        running = len(w.running)
        held = min(999, max(0, int(w.in_flight) - running))
        out[pod] = out.get(pod, 0) + 1000 * running + held
    return out


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PoolController:
    """Every WorkerPool this operator serves, each with its loop."""

    def __init__(
        self,
        runtime: PoolRuntime,
        kube: PoolKube,
        *,
        defaults: manifests.PodDefaults | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.kube = kube
        self.defaults = defaults or manifests.PodDefaults()
        self.clock = clock
        self.pools: dict[tuple[str, str], _Pool] = {}

    # -- what kopf tells us ---------------------------------------------------------------------

    def upsert(self, body: Mapping[str, Any]) -> None:
        """A pool was created, resumed or changed: (re)start its loop with this body."""
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        pool = self.pools.get(key)
        wake = True
        if pool is None or pool.body["metadata"].get("uid") != meta.get("uid"):
            if pool is not None and pool.task is not None:
                pool.task.cancel()
            # A pool seen for the first time (or after an operator restart) counts as having
            # had work just now: an idle pool with pods waits scaleToZeroAfterSeconds before
            # going to zero, as it would have without the restart.
            pool = _Pool(
                body=body,
                status=dict(body.get("status") or {}),
                history=History(last_work_at=self.clock()),
            )
            self.pools[key] = pool
        else:
            # Our own status patches come back as events too: only a spec change (a new
            # generation, e.g. ``kubectl scale``) is worth an early poll.
            wake = pool.body["metadata"].get("generation") != meta.get("generation")
            pool.body = body
        if pool.task is None or pool.task.done():
            pool.task = asyncio.create_task(self._run(pool), name=f"workerpool {key[0]}/{key[1]}")
        if wake:
            pool.wake.set()

    def forget(self, namespace: str, name: str) -> None:
        """The pool is gone (its Deployment goes with it: ownerReference)."""
        pool = self.pools.pop((namespace, name), None)
        if pool is not None and pool.task is not None:
            pool.task.cancel()
        metrics.forget_pool(namespace, name)

    def on_event(self, event: Mapping[str, Any]) -> None:
        """From the operator's events reader: wake pools at zero on a message to their queue."""
        if event.get("type") != "task-sent":
            return
        queue = event.get("queue")
        for pool in self.pools.values():
            if pool.replicas == 0 and (queue is None or queue in pool.queues):
                pool.wake.set()

    async def stop(self) -> None:
        tasks = [p.task for p in self.pools.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the loop -------------------------------------------------------------------------------

    async def _run(self, pool: _Pool) -> None:
        while True:
            pool.wake.clear()
            metrics.RECONCILES.labels("WorkerPool").inc()
            try:
                await self.reconcile(pool)
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.RECONCILE_ERRORS.labels("WorkerPool").inc()
                logger.exception("workerpool %s/%s: poll failed", pool.namespace, pool.name)
            interval = AutoscalingSpec.from_spec(pool.spec).poll_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pool.wake.wait(), timeout=interval)

    async def reconcile(self, pool: _Pool) -> ScaleDecision | None:
        """One poll of one pool (public for tests). Returns the decision, if one was made."""
        ns, name = pool.namespace, pool.name
        dep_name = manifests.deployment_name(name)
        auto = AutoscalingSpec.from_spec(pool.spec)
        deployment = await self.kube.get_deployment(ns, dep_name)
        view = DeploymentView.from_body(deployment)
        current = int(((deployment or {}).get("spec") or {}).get("replicas") or 0)

        figures: PoolFigures | None
        error: str | None = None
        stats: Mapping[str, Any] = {}
        try:
            stats = await self.runtime.queue_stats(pool.queues)
            figures = sum_figures(stats)
        except Exception as exc:  # broker down: keep the replicas, say so in status
            figures, error = None, f"{type(exc).__name__}: {exc}"
            logger.warning("workerpool %s/%s: queue figures unknown: %s", ns, name, error)

        decision: ScaleDecision | None = None
        costs: _Costs | None = None
        if not auto.enabled:
            desired = int(pool.spec.get("replicas", 1))
        elif figures is None:
            desired = current
        else:
            obs = Observation(
                backlog=figures.backlog,
                in_flight=figures.in_flight,
                oldest_wait_s=figures.oldest_wait_s,
                current_replicas=current,
                ready_replicas=view.ready_replicas,
            )
            now = self.clock()
            decision = desired_replicas(obs, auto, pool.history, now)
            if decision.desired < current:
                # Scale-down: what runs where, right now; no more pods removed than are idle.
                costs = await self._deletion_costs(ns, name)
                obs = replace(obs, idle_replicas=costs.idle())
                decision = desired_replicas(obs, auto, pool.history, now)
            pool.history = decision.history
            desired = decision.desired

        scaled: str | None = None
        manifest = manifests.deployment_for(pool.body, replicas=desired, defaults=self.defaults)
        digest = template_hash(manifest)
        manifest["metadata"].setdefault("annotations", {})[TEMPLATE_HASH] = digest
        if deployment is None:
            await self.kube.create_deployment(ns, manifest)
            scaled = f"created with {desired} replicas"
            view = DeploymentView(exists=True, available=desired == 0)
        else:
            if desired < current:
                if costs is None:
                    costs = await self._deletion_costs(ns, name)
                await self._write_costs(ns, costs)
            annotations = (deployment.get("metadata") or {}).get("annotations") or {}
            if annotations.get(TEMPLATE_HASH) != digest:
                await self.kube.replace_deployment_spec(ns, dep_name, manifest)
                logger.info("workerpool %s/%s: pod template changed, rolling", ns, name)
            elif desired != current:
                await self.kube.scale_deployment(ns, dep_name, desired)
            if desired != current:
                why = decision.reason if decision is not None else "spec.replicas"
                scaled = f"{current} -> {desired}: {why}"
                metrics.POOL_SCALE_EVENTS.labels(
                    ns, name, "up" if desired > current else "down"
                ).inc()
                logger.info("workerpool %s/%s: %s", ns, name, scaled)
                ref = ObjectRef(
                    plural=PLURAL,
                    kind=manifests.POOL_KIND,
                    namespace=ns,
                    name=name,
                    uid=str(pool.body["metadata"].get("uid") or ""),
                )
                try:  # what `kubectl describe workerpool` shows; never worth failing a poll
                    await self.kube.post_event(ref, type_="Normal", reason="Scaled", message=scaled)
                except Exception as exc:
                    logger.warning("workerpool %s/%s: event not posted: %s", ns, name, exc)
        pool.replicas = desired

        status = pool_status(
            figures=figures,
            deployment=view,
            desired=desired,
            decision=decision,
            autoscaling=auto.enabled,
            selector=manifests.selector(name),
            generation=pool.body["metadata"].get("generation"),
            previous=pool.status,
            now_iso=_now_iso(),
            figures_error=error,
            scaled=scaled,
        )
        if _changed(pool.status, status):
            await self.kube.patch_pool_status(ns, name, status)
            pool.status = {k: v for k, v in {**pool.status, **status}.items() if v is not None}
        metrics.set_pool(ns, name, stats, replicas=view.replicas, ready=view.ready_replicas,
                         desired=desired)  # fmt: skip
        return decision

    async def _deletion_costs(self, namespace: str, name: str) -> _Costs:
        pods = await self.kube.list_pods(namespace, manifests.selector(name))
        workers = await self.runtime.live_workers()
        live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        names = [str(p["metadata"]["name"]) for p in live]
        written = {
            str(p["metadata"]["name"]): (
                (p["metadata"].get("annotations") or {}).get(manifests.DELETION_COST)
            )
            for p in live
        }
        return _Costs(manifests.deletion_costs(names, running_by_pod(workers)), written)

    async def _write_costs(self, namespace: str, costs: _Costs) -> None:
        for pod, cost in costs.costs.items():
            if costs.written.get(pod) != str(cost):
                await self.kube.annotate_pod(namespace, pod, {manifests.DELETION_COST: str(cost)})


@dataclass(frozen=True)
class _Costs:
    """Deletion cost per pod now, and what each pod's annotation says already."""

    costs: dict[str, int]
    written: dict[str, str | None]

    def idle(self) -> int:
        """Pods that run nothing now (removing them interrupts no task)."""
        return sum(1 for c in self.costs.values() if c < 1000)


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the patch would change anything (conditions compared without their times)."""
    for key, value in new.items():
        if key == "conditions":
            strip = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in value]
            was = [
                {k: v for k, v in c.items() if k != "lastTransitionTime"}
                for c in old.get("conditions") or []
            ]
            if strip != was:
                return True
        elif old.get(key) != value:
            return True
    return False
