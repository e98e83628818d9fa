"""Install, upgrade and uninstall the chart with the real Helm SDK against the API emulator.

helm-python-sdk drives Helm's own Go code (release Secrets, three-way merges, resource
policies) against ``tests/kubeapi`` (the ``kube_api`` fixture): the CRDs become
Established, the Deployments carry the values given, an upgrade makes revision 2 and keeps
the generated Redis password, the default WorkerPool appears once its kind is served, and
uninstall removes the release but keeps the CRDs and the objects made from them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from chart_helpers import CHART, RELEASE

helm = pytest.importorskip("helm_python")

NS = "jobs"
FULL = f"{RELEASE}-celeriac"
CRDS = ("tasks.celeriac.dev", "schedules.celeriac.dev", "workerpools.celeriac.dev")
VALUES: dict[str, Any] = {
    "redis": {"enabled": True},
    "app": "myapp.tasks",
    "image": {"repository": "registry.example.com/celeriac", "tag": "1.2.3"},
    "workerPool": {"enabled": True},
}

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def helm_config(kube_api: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Helm's discovery cache and config go to this test's directory, never ~/.
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "kube-cache"))
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "helm-cache"))
    monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "helm-config"))
    monkeypatch.setenv("HELM_DATA_HOME", str(tmp_path / "helm-data"))
    with helm.Config(kubeconfig_path=str(kube_api.kubeconfig), namespace=NS) as cfg:
        yield cfg


def fresh_config(kube_api: Any) -> Any:
    """A new Config, as a new `helm` command is: Helm computes a Config's capabilities (the
    kinds the cluster serves) once and keeps them."""
    return helm.Config(kubeconfig_path=str(kube_api.kubeconfig), namespace=NS)


def deployment(kube_api: Any, name: str) -> dict[str, Any]:
    found = kube_api.get("apps/v1", "Deployment", name, NS)
    assert found is not None, f"Deployment {name} not found"
    return dict(found)


def container(dep: dict[str, Any]) -> dict[str, Any]:
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return dict(c)


def established(crd: dict[str, Any]) -> bool:
    conditions = crd.get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def redis_password(kube_api: Any) -> str:
    secret = kube_api.get("v1", "Secret", f"{FULL}-redis", NS)
    return base64.b64decode(secret["data"]["redis-password"]).decode()


def test_install_upgrade_uninstall(kube_api: Any, helm_config: Any) -> None:
    release = helm_config.install(str(CHART), RELEASE, VALUES, create_namespace=True, timeout=60)
    assert release["revision"] == 1
    assert release["status"] == "deployed"

    for name in CRDS:
        crd = kube_api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        assert crd is not None, name
        assert established(crd), f"{name}: {crd.get('status')}"
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    operator = deployment(kube_api, f"{FULL}-operator")
    assert operator["spec"]["replicas"] == 2
    c = container(operator)
    assert c["image"] == "registry.example.com/celeriac:1.2.3"
    assert c["args"][:3] == ["operator", "--namespace", NS]
    beat = deployment(kube_api, f"{FULL}-beat")
    assert beat["spec"]["replicas"] == 2
    assert container(beat)["args"][:3] == ["beat", "--app", "myapp.tasks"]
    assert kube_api.get("apps/v1", "StatefulSet", f"{FULL}-redis", NS) is not None
    password = redis_password(kube_api)
    assert len(password) == 32
    # Helm resolves every kind before applying anything: no WorkerPool on this first run.
    assert kube_api.list("celeriac.dev/v1alpha1", "WorkerPool", NS) == []

    with fresh_config(kube_api) as cfg:
        upgraded = cfg.upgrade(str(CHART), RELEASE,
                               {**VALUES, "operator": {"replicas": 3}, "beat": {"replicas": 1}},
                               timeout=60)
        assert upgraded["revision"] == 2
        assert [r["revision"] for r in cfg.history(RELEASE)] == [1, 2]
    assert deployment(kube_api, f"{FULL}-operator")["spec"]["replicas"] == 3
    assert deployment(kube_api, f"{FULL}-beat")["spec"]["replicas"] == 1
    assert redis_password(kube_api) == password, "the generated password changed on upgrade"
    pool = kube_api.get("celeriac.dev/v1alpha1", "WorkerPool", f"{FULL}-default", NS)
    assert pool is not None, "the default WorkerPool was not created by the upgrade"
    assert pool["spec"]["app"] == "myapp.tasks"
    assert pool["spec"]["image"] == "registry.example.com/celeriac:1.2.3"
    broker_env = pool["spec"]["env"][0]
    assert broker_env["valueFrom"]["secretKeyRef"] == {"name": f"{FULL}-broker", "key": "broker-url"}

    # A user's object made from the CRDs; uninstall must leave it and its CRD alone.
    kube_api.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "Task",
                     "metadata": {"name": "keep-me", "namespace": NS},
                     "spec": {"task": "myapp.tasks.add", "args": [1, 2]}})
    helm_config.uninstall(RELEASE, timeout=60)
    assert kube_api.get("apps/v1", "Deployment", f"{FULL}-operator", NS) is None
    assert kube_api.get("apps/v1", "Deployment", f"{FULL}-beat", NS) is None
    assert kube_api.get("v1", "Secret", f"{FULL}-broker", NS) is None
    for name in CRDS:
        assert kube_api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name) is not None, name
    assert kube_api.get("celeriac.dev/v1alpha1", "Task", "keep-me", NS) is not None
    assert helm_config.list(all_states=True) == []


def test_crds_managed_outside_the_release(kube_api: Any, helm_config: Any) -> None:
    """crds.install=false with the CRDs already applied: the release owns no CRD, and the
    default WorkerPool comes with the first install since its kind is served already."""
    kube_api.install_crds(sorted((CHART.parent.parent / "crds").glob("*.yaml")))
    vals = {**VALUES, "crds": {"install": False}, "rbac": {"clusterWide": True}}
    release = helm_config.install(str(CHART), RELEASE, vals, create_namespace=True, timeout=60)
    assert "CustomResourceDefinition" not in release["manifest"]
    assert kube_api.get("celeriac.dev/v1alpha1", "WorkerPool", f"{FULL}-default", NS) is not None
    assert kube_api.get("rbac.authorization.k8s.io/v1", "ClusterRole", f"{FULL}-operator") is not None
    args = container(deployment(kube_api, f"{FULL}-operator"))["args"]
    assert "--all-namespaces" in args
    helm_config.uninstall(RELEASE, timeout=60)
    assert kube_api.get("celeriac.dev/v1alpha1", "WorkerPool", f"{FULL}-default", NS) is None
    assert kube_api.get("rbac.authorization.k8s.io/v1", "ClusterRole", f"{FULL}-operator") is None
