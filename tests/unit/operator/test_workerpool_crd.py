"""The WorkerPool CRD: a valid apiextensions/v1 object with the names, columns, subresources
and rules the issue fixes, and CEL rules that compile and mean what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import yaml

from celeriac_operator.decide.scaling import AutoscalingSpec

CRD_PATH = Path(__file__).resolve().parents[3] / "crds" / "workerpools.celeriac.dev.yaml"


def _crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return crd


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = _crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_crd_is_a_valid_custom_resource_definition() -> None:
    kubernetes_validate.validate(_crd(), "1.30", strict=True)


def test_names_subresources_and_columns() -> None:
    crd = _crd()
    assert crd["metadata"]["name"] == "workerpools.celeriac.dev"
    names = crd["spec"]["names"]
    assert (names["kind"], names["shortNames"], names["categories"]) == (
        "WorkerPool",
        ["cwp"],
        ["celeriac"],
    )
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and crd["spec"]["scope"] == "Namespaced"
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert "status" in version["subresources"]
    cols = [c["name"].upper() for c in version["additionalPrinterColumns"]]
    assert cols == ["QUEUES", "READY", "DESIRED", "BACKLOG", "INFLIGHT", "AGE"]


def test_every_field_of_the_issue_is_declared() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    for name in [
        "app",
        "queues",
        "pool",
        "concurrency",
        "image",
        "imagePullPolicy",
        "env",
        "envFrom",
        "resources",
        "nodeSelector",
        "tolerations",
        "affinity",
        "serviceAccountName",
        "podLabels",
        "podAnnotations",
        "shutdownTimeoutSeconds",
        "maxTasksPerChild",
        "maxMemoryPerChild",
        "replicas",
        "autoscaling",
    ]:
        assert name in spec, name
    auto = spec["autoscaling"]["properties"]
    for name in [
        "enabled",
        "minReplicas",
        "maxReplicas",
        "targetBacklogPerReplica",
        "targetWaitSeconds",
        "activationBacklog",
        "pollIntervalSeconds",
        "scaleUpStabilizationSeconds",
        "scaleDownStabilizationSeconds",
        "scaleToZeroAfterSeconds",
    ]:
        assert name in auto, name
    status = _schema()["properties"]["status"]["properties"]
    for name in [
        "replicas",
        "readyReplicas",
        "desiredReplicas",
        "backlog",
        "inFlight",
        "oldestWaitSeconds",
        "lastScaleTime",
        "lastScaleReason",
        "selector",
        "observedGeneration",
        "conditions",
    ]:
        assert name in status, name
    kinds = status["conditions"]["items"]["properties"]["type"]["enum"]
    assert kinds == ["Ready", "ScalingActive", "ScalingLimited"]


def test_crd_defaults_match_the_decision_defaults() -> None:
    """The operator and the API server must agree on what an absent field means."""
    auto = _schema()["properties"]["spec"]["properties"]["autoscaling"]["properties"]
    defaults = {k: v["default"] for k, v in auto.items() if "default" in v}
    assert AutoscalingSpec.from_spec({"autoscaling": defaults}) == AutoscalingSpec()


def _rules(node: Any, path: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for r in node.get("x-kubernetes-validations", []):
            out.append((path, r["rule"]))
        for k, v in node.items():
            out += _rules(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _rules(v, f"{path}/{i}")
    return out


def _eval(rule: str, value: Any) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    return bool(program.evaluate({"self": celpy.json_to_cel(value)}))


def test_cel_rules_compile_and_hold() -> None:
    rules = dict((r, p) for p, r in _rules(_schema()))
    assert len(rules) == 5
    auto = "self.minReplicas <= self.maxReplicas"
    assert _eval(auto, {"minReplicas": 0, "maxReplicas": 3})
    assert not _eval(auto, {"minReplicas": 4, "maxReplicas": 3})
    solo = "self.pool != 'solo' || !has(self.concurrency) || self.concurrency == 1"
    assert _eval(solo, {"pool": "solo", "app": "a"})
    assert not _eval(solo, {"pool": "solo", "concurrency": 4, "app": "a"})
    assert _eval(solo, {"pool": "prefork", "concurrency": 4, "app": "a"})
    wait = "!has(self.targetWaitSeconds) || self.targetWaitSeconds >= self.pollIntervalSeconds"
    assert _eval(wait, {"pollIntervalSeconds": 5})
    assert not _eval(wait, {"pollIntervalSeconds": 5, "targetWaitSeconds": 2})
    child = "!has(self.maxTasksPerChild) || self.pool == 'prefork'"
    assert not _eval(child, {"pool": "threads", "maxTasksPerChild": 10})
    for rule in rules:
        celpy.Environment().compile(rule)
