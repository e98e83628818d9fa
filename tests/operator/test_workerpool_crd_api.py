"""The WorkerPool CRD as the API server applies it: defaults, refusals naming the field, the
scale subresource (``kubectl scale``) and the printer columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeapi import ApiError, KubeAPI

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "workerpools.celeriac.dev.yaml"
AV = "celeriac.dev/v1alpha1"


def pool(name: str = "emails", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": AV,
        "kind": "WorkerPool",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"app": "shop.tasks", **spec},
    }


def test_defaults_are_filled_in(kube_api: KubeAPI) -> None:
    kube_api.install_crds(CRD)
    obj = kube_api.create(pool())
    spec = obj["spec"]
    assert spec["queues"] == ["default"] and spec["pool"] == "prefork"
    assert spec["replicas"] == 1 and spec["shutdownTimeoutSeconds"] == 25
    auto = spec["autoscaling"]
    assert auto["enabled"] is True and auto["minReplicas"] == 0 and auto["maxReplicas"] == 10
    assert auto["targetBacklogPerReplica"] == 4 and auto["pollIntervalSeconds"] == 5
    assert "targetWaitSeconds" not in auto


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"pool": "gevent"}, "spec.pool"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "spec.autoscaling.minReplicas"),
        ({"pool": "solo", "concurrency": 4}, "spec.concurrency"),
        ({"pool": "threads", "maxTasksPerChild": 10}, "spec.maxTasksPerChild"),
        ({"concurrency": 0}, "spec.concurrency"),
        ({"queues": []}, "spec.queues"),
        ({"autoscaling": {"targetWaitSeconds": 1, "pollIntervalSeconds": 5}},
         "spec.autoscaling.targetWaitSeconds"),
        ({"unknownField": 1}, "spec.unknownField"),
    ],
)  # fmt: skip
def test_bad_pools_are_refused_naming_the_field(
    kube_api: KubeAPI, spec: dict[str, Any], field: str
) -> None:
    kube_api.install_crds(CRD)
    with pytest.raises(ApiError) as err:
        kube_api.create(pool(**spec))
    assert err.value.code in (400, 422), err.value  # 400: strict decoding (unknown field)
    assert field in str(err.value), err.value


def test_app_is_required(kube_api: KubeAPI) -> None:
    kube_api.install_crds(CRD)
    body = pool()
    del body["spec"]["app"]
    with pytest.raises(ApiError) as err:
        kube_api.create(body)
    assert "spec.app" in str(err.value)


def test_kubectl_scale_and_columns(kube_api: KubeAPI) -> None:
    kube_api.install_crds(CRD)
    kube_api.create(pool(autoscaling={"enabled": False}, queues=["emails", "default"]))
    kube_api.patch(
        AV,
        "WorkerPool",
        "emails",
        {"status": {"replicas": 1, "readyReplicas": 1, "desiredReplicas": 1, "backlog": 12,
                    "inFlight": 3, "selector": "celeriac.dev/workerpool=emails"}},
        "default",
        subresource="status",
    )  # fmt: skip
    kube_api.kubectl("scale", "workerpool/emails", "--replicas=3")
    obj = kube_api.get(AV, "WorkerPool", "emails", "default")
    assert obj is not None and obj["spec"]["replicas"] == 3
    out = kube_api.kubectl("get", "cwp").stdout
    head, row = out.splitlines()[:2]
    assert head.split() == ["NAME", "QUEUES", "READY", "DESIRED", "BACKLOG", "INFLIGHT", "AGE"]
    assert row.startswith("emails") and '"emails"' in row and '"default"' in row, out
    assert row.split()[-5:-1] == ["1", "1", "12", "3"], out
    assert "emails" in kube_api.kubectl("get", "celeriac").stdout
