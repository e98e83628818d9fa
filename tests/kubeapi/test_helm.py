"""helm-python-sdk (Helm 4) installs, upgrades and uninstalls a toy chart in the emulator.

What Helm sends, as seen here: discovery (aggregated), ``/openapi/v3``, release Secrets in
protobuf (POST, PUT, DELETE), and server-side apply (``application/apply-patch+yaml``,
``fieldManager``, ``fieldValidation=Strict``, ``force=false``) for every manifest.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kubeapi import KubeAPI
from kubeapi.toys import crd

helm_python = pytest.importorskip("helm_python")

_CHART = """apiVersion: v2
name: toy
version: 0.1.0
appVersion: "1.0"
"""
_TEMPLATES = """apiVersion: v1
kind: ServiceAccount
metadata: {name: {{ .Release.Name }}-sa}
---
apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-secret}
stringData: {broker-url: "redis://redis:6379/0"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-op, labels: {app: op}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: op}}
  template:
    metadata: {labels: {app: op}}
    spec:
      serviceAccountName: {{ .Release.Name }}-sa
      containers:
      - name: op
        image: "celeriac:{{ .Values.tag }}"
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}-svc}
spec:
  selector: {app: op}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: {{ .Release.Name }}-pdb}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: op}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: {{ .Release.Name }}-role}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
"""


def _chart(tmp_path: Path) -> Path:
    import yaml

    root = tmp_path / "toy"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(_CHART)
    (root / "values.yaml").write_text("replicas: 2\ntag: '1'\n")
    kept = crd()
    kept["metadata"]["annotations"] = {"helm.sh/resource-policy": "keep"}
    (root / "templates" / "crd.yaml").write_text(yaml.safe_dump(kept))
    (root / "templates" / "all.yaml").write_text(_TEMPLATES)
    return root


@pytest.mark.timeout(60)
def test_helm_install_upgrade_uninstall(kube_api: KubeAPI, tmp_path: Path) -> None:
    chart = _chart(tmp_path)
    cfg = helm_python.Config(kubeconfig_path=str(kube_api.kubeconfig), namespace="default")
    try:
        rel = cfg.install(str(chart), "demo", {"replicas": 3}, namespace="default", timeout=30)
        assert (rel["revision"], rel["status"]) == (1, "deployed")
        dep = kube_api.get("apps/v1", "Deployment", "demo-op", "default")
        assert dep is not None and dep["spec"]["replicas"] == 3
        established = kube_api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.dev")
        assert established is not None
        assert {c["type"]: c["status"] for c in established["status"]["conditions"]}["Established"] == "True"
        secret = kube_api.get("v1", "Secret", "demo-secret", "default")
        assert secret is not None and base64.b64decode(secret["data"]["broker-url"]) == b"redis://redis:6379/0"
        releases = kube_api.list("v1", "Secret", "default", label_selector="owner=helm,name=demo")
        assert [s["metadata"]["labels"]["version"] for s in releases] == ["1"]

        rel = cfg.upgrade(str(chart), "demo", {"replicas": 1, "tag": "2"}, namespace="default", timeout=30)
        assert (rel["revision"], rel["status"]) == (2, "deployed")
        dep = kube_api.get("apps/v1", "Deployment", "demo-op", "default")
        assert dep is not None and dep["spec"]["replicas"] == 1
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "celeriac:2"
        assert dep["metadata"]["generation"] == 2
        assert [e["manager"] for e in dep["metadata"]["managedFields"] if e["operation"] == "Apply"]
        assert cfg.status("demo")["revision"] == 2

        cfg.uninstall("demo", timeout=30)
        assert kube_api.get("apps/v1", "Deployment", "demo-op", "default") is None
        assert kube_api.list("v1", "Secret", "default", label_selector="owner=helm") == []
        # the CRD carries helm.sh/resource-policy: keep
        assert kube_api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.dev")
    finally:
        cfg.close()
    applies = [r for r in kube_api.requests if r.headers.get("Content-Type") == "application/apply-patch+yaml"]
    assert applies and all(r.params.get("fieldValidation") == "Strict" for r in applies)
