"""Rendering the Helm chart with the real Helm SDK (helm-python-sdk), shared by tests/chart.

``render(values)`` returns the chart's objects as dicts, the way ``helm template`` would
produce them (NOTES.txt apart); the value sets below are the configurations the tests
render, lint, validate and install.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "celeriac"
RELEASE = "demo"
NAMESPACE = "jobs"
EXTERNAL_URL = "redis://:s3cret@redis.example.internal:6379/0"

#: The configurations the tests render: name -> values.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "external-redis": {"broker": {"url": EXTERNAL_URL}},
    "existing-secret": {"broker": {"existingSecret": "my-broker", "existingSecretKey": "url"}},
    "bundled-redis": {"redis": {"enabled": True}},
    "monitoring-on": {
        "broker": {"url": EXTERNAL_URL},
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
            "podMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "grafanaDashboards": {"enabled": True},
        },
    },
    "crds-off": {"broker": {"url": EXTERNAL_URL}, "crds": {"install": False}},
    "cluster-wide": {"redis": {"enabled": True}, "rbac": {"clusterWide": True}},
    "scheduling": {
        "redis": {"enabled": True, "podLabels": {"team": "data"}, "priorityClassName": "critical",
                  "nodeSelector": {"disk": "ssd"}},
        "operator": {"podLabels": {"team": "platform"}, "priorityClassName": "system-cluster-critical",
                     "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops",
                                      "effect": "NoSchedule"}],
                     "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                    "whenUnsatisfiable": "ScheduleAnyway"}]},
        "beat": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In",
                                                         "values": ["system"]}]}]}}},
                 "podAnnotations": {"example.com/note": "x"}},
        "imagePullSecrets": [{"name": "regcred"}],
        "image": {"digest": "sha256:" + "a" * 64},
    },
    "minimal": {
        "broker": {"url": EXTERNAL_URL}, "beat": {"replicas": 0},
        "operator": {"replicas": 1}, "tests": {"enabled": False},
    },
}


def values(name: str) -> dict[str, Any]:
    return copy.deepcopy(VALUE_SETS[name])


def load_chart() -> Any:
    import helm_python as helm

    return helm.Chart.load(str(CHART))


def render_raw(vals: dict[str, Any], *, namespace: str = NAMESPACE) -> dict[str, str]:
    with load_chart() as chart:
        rendered: dict[str, str] = chart.render(vals, name=RELEASE, namespace=namespace)
        return rendered


def parse(rendered: dict[str, str]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert isinstance(doc, dict), f"{path}: a document is not a mapping"
                objects.append(doc)
    return objects


def render(vals: dict[str, Any], *, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return parse(render_raw(vals, namespace=namespace))


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, pod metadata, pod spec) of every pod the objects make."""
    pods = []
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            template = o["spec"]["template"]
            pods.append((f"{o['kind']}/{o['metadata']['name']}", template.get("metadata", {}),
                         template["spec"]))
        elif o["kind"] == "Pod":
            pods.append((f"Pod/{o['metadata']['name']}", o["metadata"], o["spec"]))
    return pods
