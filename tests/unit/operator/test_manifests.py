"""The worker Deployment of a WorkerPool: complete, owned, hardened, schema-valid."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from celeriac_operator.decide.manifests import (
    PodDefaults,
    deletion_costs,
    deployment_for,
    max_memory_per_child_kib,
    memory_bytes,
    selector,
    termination_grace_s,
)


def pool(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "celeriac.dev/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": "emails", "namespace": "jobs", "uid": "u-1", "generation": 1},
        "spec": {"app": "shop.tasks", "queues": ["emails", "default"], **spec},
    }


FULL = pool(
    pool="prefork",
    concurrency=8,
    image="registry.example/shop:1.2",
    imagePullPolicy="Always",
    env=[{"name": "LOG_LEVEL", "value": "debug"}, {"name": "POD_NAME", "value": "evil"}],
    envFrom=[{"secretRef": {"name": "shop-secrets"}}],
    resources={"limits": {"memory": "2Gi", "cpu": "2"}, "requests": {"memory": "1Gi"}},
    nodeSelector={"pool": "workers"},
    tolerations=[{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
    affinity={
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"celeriac.dev/workerpool": "emails"}},
                    },
                }
            ]
        }
    },
    serviceAccountName="shop-worker",
    podLabels={"team": "shop", "celeriac.dev/workerpool": "spoofed"},
    podAnnotations={"prometheus.io/scrape": "true"},
    shutdownTimeoutSeconds=300,
    maxTasksPerChild=100,
)


@pytest.mark.parametrize("body", [pool(), FULL], ids=["minimal", "full"])
def test_deployment_is_schema_valid(body: dict[str, Any]) -> None:
    dep = deployment_for(body, replicas=3)
    kubernetes_validate.validate(dep, "1.30", strict=True)


def test_minimal_pool() -> None:
    dep = deployment_for(pool(), replicas=0, defaults=PodDefaults(broker_secret="brk"))
    meta, spec = dep["metadata"], dep["spec"]
    assert meta["name"] == "emails-workers" and meta["namespace"] == "jobs"
    owner = meta["ownerReferences"][0]
    assert owner == {
        "apiVersion": "celeriac.dev/v1alpha1",
        "kind": "WorkerPool",
        "name": "emails",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert spec["replicas"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["selector"]["matchLabels"] == {
        "celeriac.dev/workerpool": "emails",
        "app.kubernetes.io/component": "worker",
    }
    assert selector("emails") == "app.kubernetes.io/component=worker,celeriac.dev/workerpool=emails"
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == [
        "-A", "shop.tasks", "worker", "-Q", "emails,default", "-P", "prefork", "-c", "4",
        "-n", "$(POD_NAME)", "--health-port", "8001", "--metrics-port", "9808",
        "--shutdown-timeout", "25",
    ]  # fmt: skip
    env = {e["name"]: e for e in c["env"]}
    assert env["CELERIAC_BROKER_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "brk",
        "key": "broker-url",
    }
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "CELERIAC_WORKER_MAX_MEMORY_PER_CHILD" not in env  # no limit: nothing to derive
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["terminationGracePeriodSeconds"] == 35
    for key in ("nodeSelector", "tolerations", "affinity", "serviceAccountName"):
        assert key not in pod


def test_full_pool_passes_everything_through() -> None:
    dep = deployment_for(FULL, replicas=2)
    tmpl = dep["spec"]["template"]
    pod, (c,) = tmpl["spec"], tmpl["spec"]["containers"]
    assert c["image"] == "registry.example/shop:1.2" and c["imagePullPolicy"] == "Always"
    assert c["args"][c["args"].index("-c") + 1] == "8"
    assert c["args"][-1] == "300"
    assert pod["terminationGracePeriodSeconds"] == 330
    env = {e["name"]: e for e in c["env"]}
    assert env["LOG_LEVEL"]["value"] == "debug"
    assert "value" not in env["POD_NAME"]  # the worker's identity is not overridable
    assert env["CELERIAC_WORKER_MAX_TASKS_PER_CHILD"]["value"] == "100"
    # 2 GiB minus 64 MiB for the parent, 80 % of it over 8 children.
    assert env["CELERIAC_WORKER_MAX_MEMORY_PER_CHILD"]["value"] == str(
        int((2 * 1024 * 1024 - 64 * 1024) * 0.8 / 8)
    )
    assert c["envFrom"] == [{"secretRef": {"name": "shop-secrets"}}]
    assert c["resources"]["limits"]["memory"] == "2Gi"
    assert pod["nodeSelector"] == {"pool": "workers"}
    assert pod["tolerations"][0]["key"] == "spot"
    assert pod["serviceAccountName"] == "shop-worker"
    assert "podAntiAffinity" in pod["affinity"]
    assert tmpl["metadata"]["labels"]["team"] == "shop"
    assert tmpl["metadata"]["labels"]["celeriac.dev/workerpool"] == "emails"  # ours win
    assert tmpl["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}


def test_same_pool_same_manifest() -> None:
    assert deployment_for(FULL, replicas=2) == deployment_for(FULL, replicas=2)


def test_user_may_override_the_broker_url() -> None:
    body = pool(env=[{"name": "CELERIAC_BROKER_URL", "value": "redis://r:6379/1"}])
    (c,) = deployment_for(body, replicas=1)["spec"]["template"]["spec"]["containers"]
    urls = [e for e in c["env"] if e["name"] == "CELERIAC_BROKER_URL"]
    assert urls == [{"name": "CELERIAC_BROKER_URL", "value": "redis://r:6379/1"}]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("512Mi", 512 * 2**20), ("1G", 10**9), ("1.5Gi", int(1.5 * 2**30)), ("1e9", 10**9),
     (1024, 1024), ("128974848", 128974848), ("nonsense", None), ("100m", 0)],
)  # fmt: skip
def test_memory_quantities(quantity: str | int, expected: int | None) -> None:
    assert memory_bytes(quantity) == expected


def test_max_memory_per_child() -> None:
    spec = {"pool": "prefork", "concurrency": 2, "resources": {"limits": {"memory": "1Gi"}}}
    assert max_memory_per_child_kib(spec) == int((1024 * 1024 - 64 * 1024) * 0.8 / 2)
    assert max_memory_per_child_kib({**spec, "maxMemoryPerChild": 50000}) == 50000
    assert max_memory_per_child_kib({**spec, "pool": "threads"}) is None
    tiny = {"pool": "prefork", "concurrency": 8, "resources": {"limits": {"memory": "64Mi"}}}
    assert max_memory_per_child_kib(tiny) == 16 * 1024  # a floor, not a negative number


def test_grace_period_margin() -> None:
    assert termination_grace_s({}) == 35
    assert termination_grace_s({"shutdownTimeoutSeconds": 0}) == 10
    assert termination_grace_s({"shutdownTimeoutSeconds": 600}) == 660


def test_deletion_costs_follow_what_runs_now() -> None:
    costs = deletion_costs(["a", "b", "c"], {"a": 0, "b": 3})
    assert costs == {"a": 0, "b": 3, "c": -1}
    assert sorted(costs, key=costs.__getitem__) == ["c", "a", "b"]
