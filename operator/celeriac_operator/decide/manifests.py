"""The worker Deployment a WorkerPool owns, as a plain dict built from the pool's body.

Pure: no kopf, no Kubernetes client, no clock. The handler patches what this returns; the
unit tests validate it against the Kubernetes schemas (``kubernetes-validate``, strict).
It must not read the cluster (the replica count comes from the caller) and must be stable:
the same pool gives the same dict, so an unchanged spec never rolls the pods.

What every worker pod gets, whatever the pool says:
* ``celeriac -A <app> worker -Q .. -P .. -c .. -n $(POD_NAME) --health-port 8001
  --metrics-port 9808 --shutdown-timeout ..`` (the image's ENTRYPOINT is ``celeriac``);
  the pod name is the worker's hostname, which is how the live-workers list maps to pods.
* the broker URL from a Secret (``CELERIAC_BROKER_URL`` from key ``broker-url``);
* liveness, readiness and startup probes on ``/livez`` and ``/readyz`` (never ``inspect
  ping``);
* non-root (uid 10001), read-only root filesystem with an emptyDir on ``/tmp``, no privilege
  escalation, every capability dropped, RuntimeDefault seccomp;
* ``terminationGracePeriodSeconds`` = ``shutdownTimeoutSeconds`` + a margin, so the worker's
  bounded drain ends (and hands back what is left) before the kubelet's SIGKILL;
* a rolling update with ``maxUnavailable: 0`` (old pods drain while new ones start).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: API version and kind of the owner.
POOL_API_VERSION = "celeriac.dev/v1alpha1"
POOL_KIND = "WorkerPool"
#: Label naming the pool on its Deployment and pods (the selector).
POOL_LABEL = "celeriac.dev/workerpool"
#: Port of the worker's /livez and /readyz.
HEALTH_PORT = 8001
#: Port of the worker's Prometheus /metrics.
METRICS_PORT = 9808
#: uid and gid the worker runs as (the image's user).
RUN_AS = 10001
#: Concurrency when the spec gives none (never the node's CPU count, which a pod does not own).
DEFAULT_CONCURRENCY = 4
#: Drain when the spec gives none (the runtime's worker_shutdown_timeout).
DEFAULT_SHUTDOWN_S = 25
#: Share of the memory limit the prefork children may use between them.
CHILD_MEMORY_SHARE = 0.8
#: Memory the prefork parent keeps for itself before the children's share, in KiB.
PARENT_MEMORY_KIB = 64 * 1024


@dataclass(frozen=True)
class PodDefaults:
    """What the operator's settings give every pool (the chart's image and Secret)."""

    image: str = "celeriac:latest"
    image_pull_policy: str = "IfNotPresent"
    broker_secret: str = "celeriac-broker"
    broker_secret_key: str = "broker-url"


def deployment_name(pool_name: str) -> str:
    """The owned Deployment's name (its pods are ``<pool>-workers-<hash>-<suffix>``)."""
    return f"{pool_name}-workers"


def selector_labels(pool_name: str) -> dict[str, str]:
    """Labels that select the pool's pods (the Deployment's immutable selector)."""
    return {POOL_LABEL: pool_name, "app.kubernetes.io/component": "worker"}


def selector(pool_name: str) -> str:
    """``status.selector`` of the pool: what ``kubectl scale`` and an HPA select pods by."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(pool_name).items()))


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|[mkMGTPE]|e[0-9]+)?$")
_FACTORS = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def memory_bytes(quantity: str | int) -> int | None:
    """Bytes of a Kubernetes memory quantity (``512Mi``, ``1G``, ``1e9``); None if unreadable."""
    if isinstance(quantity, int):
        return quantity
    m = _QUANTITY.match(str(quantity).strip())
    if not m:
        return None
    number, suffix = float(m.group(1)), m.group(2) or ""
    if suffix == "m":
        return int(number / 1000)
    if suffix.startswith("e"):
        return int(number * 10 ** int(suffix[1:]))
    return int(number * _FACTORS[suffix])


def max_memory_per_child_kib(spec: Mapping[str, Any]) -> int | None:
    """``maxMemoryPerChild`` in KiB: the spec's, else derived from ``limits.memory``.

    The children share ``CHILD_MEMORY_SHARE`` of the limit left after the parent's
    ``PARENT_MEMORY_KIB``, so one leaking child is recycled before the kernel OOM-kills the
    whole pod (and every task in it). Prefork only; None when there is nothing to go on.
    """
    if spec.get("pool", "prefork") != "prefork":
        return None
    if spec.get("maxMemoryPerChild") is not None:
        return int(spec["maxMemoryPerChild"])
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    total = memory_bytes(limit) if limit is not None else None
    if not total:
        return None
    usable_kib = total // 1024 - PARENT_MEMORY_KIB
    children = concurrency(spec)
    return max(16 * 1024, math.floor(usable_kib * CHILD_MEMORY_SHARE / children))


def concurrency(spec: Mapping[str, Any]) -> int:
    """Worker slots: the spec's, else 1 for the solo pool and ``DEFAULT_CONCURRENCY`` otherwise."""
    if spec.get("concurrency") is not None:
        return int(spec["concurrency"])
    return 1 if spec.get("pool") == "solo" else DEFAULT_CONCURRENCY


def termination_grace_s(spec: Mapping[str, Any]) -> int:
    """The drain plus a margin (10 s, or 10 % for long drains) for hand-back and exit."""
    drain = int(spec.get("shutdownTimeoutSeconds", DEFAULT_SHUTDOWN_S))
    return drain + max(10, math.ceil(drain * 0.1))


def _worker_args(spec: Mapping[str, Any]) -> list[str]:
    queues = spec.get("queues") or ["default"]
    return [
        "-A",
        str(spec["app"]),
        "worker",
        "-Q",
        ",".join(queues),
        "-P",
        str(spec.get("pool", "prefork")),
        "-c",
        str(concurrency(spec)),
        "-n",
        "$(POD_NAME)",
        "--health-port",
        str(HEALTH_PORT),
        "--metrics-port",
        str(METRICS_PORT),
        "--shutdown-timeout",
        str(int(spec.get("shutdownTimeoutSeconds", DEFAULT_SHUTDOWN_S))),
    ]


def _env(spec: Mapping[str, Any], defaults: PodDefaults) -> list[dict[str, Any]]:
    ours: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "CELERIAC_BROKER_URL",
            "valueFrom": {
                "secretKeyRef": {"name": defaults.broker_secret, "key": defaults.broker_secret_key}
            },
        },
    ]
    if spec.get("maxTasksPerChild") is not None:
        ours.append(
            {"name": "CELERIAC_WORKER_MAX_TASKS_PER_CHILD", "value": str(spec["maxTasksPerChild"])}
        )
    kib = max_memory_per_child_kib(spec)
    if kib is not None:
        ours.append({"name": "CELERIAC_WORKER_MAX_MEMORY_PER_CHILD", "value": str(kib)})
    user = [dict(e) for e in spec.get("env") or []]
    # POD_NAME is the worker's identity (the deletion cost depends on it): never overridden.
    # The rest of ours gives way to the user's entry of the same name.
    taken = {e["name"] for e in user} - {"POD_NAME"}
    user = [e for e in user if e["name"] != "POD_NAME"]
    return [e for e in ours if e["name"] not in taken] + user


def _probe(path: str, *, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "health"},
        "periodSeconds": period_s,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def deployment_for(
    pool: Mapping[str, Any], *, replicas: int, defaults: PodDefaults | None = None
) -> dict[str, Any]:
    """The Deployment (apps/v1) running the pool's workers.

    Args:
        pool: the WorkerPool body (``metadata`` with name, namespace and uid; ``spec``).
        replicas: the replica count to write (the scaling decision's, or ``spec.replicas``).
        defaults: image and broker Secret from the operator's settings.

    Returns:
        A complete Deployment manifest, owned by the pool (deleting the pool deletes it).
    """
    d = defaults or PodDefaults()
    meta = pool["metadata"]
    spec: Mapping[str, Any] = pool.get("spec") or {}
    name = str(meta["name"])
    match = selector_labels(name)
    labels = {
        "app.kubernetes.io/name": "celeriac",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "celeriac-operator",
        **match,
    }
    pod_labels = {**{str(k): str(v) for k, v in (spec.get("podLabels") or {}).items()}, **labels}
    container: dict[str, Any] = {
        "name": "worker",
        "image": spec.get("image") or d.image,
        "imagePullPolicy": spec.get("imagePullPolicy") or d.image_pull_policy,
        "args": _worker_args(spec),
        "env": _env(spec, d),
        "ports": [
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "startupProbe": _probe("/livez", period_s=2, failures=60),
        "livenessProbe": _probe("/livez", period_s=10, failures=3),
        "readinessProbe": _probe("/readyz", period_s=5, failures=2),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if spec.get("envFrom"):
        container["envFrom"] = [dict(e) for e in spec["envFrom"]]
    if spec.get("resources"):
        container["resources"] = dict(spec["resources"])
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "terminationGracePeriodSeconds": termination_grace_s(spec),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    for key in ("nodeSelector", "tolerations", "affinity", "serviceAccountName"):
        if spec.get(key):
            pod_spec[key] = spec[key]
    template_meta: dict[str, Any] = {"labels": pod_labels}
    if spec.get("podAnnotations"):
        template_meta["annotations"] = {str(k): str(v) for k, v in spec["podAnnotations"].items()}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(name),
            "namespace": meta.get("namespace"),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": POOL_API_VERSION,
                    "kind": POOL_KIND,
                    "name": name,
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": match},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


#: Annotation the ReplicaSet reads to choose which pods go first on scale-down.
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def deletion_costs(pod_names: list[str], running: Mapping[str, int]) -> dict[str, int]:
    """``pod-deletion-cost`` per pod: what its worker runs now (idle pods cheapest).

    Args:
        pod_names: the pool's pods.
        running: tasks running now per worker hostname (= pod name), from the live-workers
            list; a pod missing from it has no live worker yet (starting) or any more.

    Returns:
        cost per pod name: -1 for a pod with no live worker, 0 idle, else the tasks it runs
        (the ReplicaSet removes the lowest cost first).
    """
    return {p: running.get(p, -1) for p in pod_names}
