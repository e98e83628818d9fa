"""What ``kubectl apply`` of a bad object sees (the CRD schemas and CEL rules, enforced by
the API emulator), the example manifests, and kubectl itself against the real operator:
apply, get with the printer columns, wait, describe, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeapi import ApiError
from operator_helpers import API, ROOT, task

EXAMPLES = sorted((ROOT / "examples" / "k8s").glob("*.yaml"))


def _refused(cluster: Any, obj: dict[str, Any]) -> str:
    with pytest.raises(ApiError) as info:
        cluster.create(obj)
    assert info.value.code in (400, 422), info.value  # strict decoding: 400, like a real server
    return str(info.value)


def test_invalid_objects_are_refused_naming_the_field(cluster: Any) -> None:
    message = _refused(cluster, task("p12", "k8s.add", 1, 1, priority=12))
    assert "spec.priority" in message
    message = _refused(cluster, task("both", "k8s.add", countdown=5, eta="2026-12-01T10:00:00Z"))
    assert "countdown" in message and "eta" in message
    message = _refused(cluster, {"apiVersion": API, "kind": "Schedule",
                                 "metadata": {"name": "both", "namespace": "default"},
                                 "spec": {"task": "t", "schedule": "@hourly", "every": "1s"}})
    assert "spec.schedule" in message and "spec.every" in message
    message = _refused(cluster, {"apiVersion": API, "kind": "Schedule",
                                 "metadata": {"name": "bad-every", "namespace": "default"},
                                 "spec": {"task": "t", "every": "5 minutes"}})
    assert "spec.every" in message
    message = _refused(cluster, task("unknown", "k8s.add", bogus=1))
    assert "bogus" in message
    cluster.create(task("fixed", "k8s.add", 1, 2))
    with pytest.raises(ApiError) as info:
        cluster.patch(API, "Task", "fixed", {"spec": {"args": [3, 4]}}, "default")
    assert info.value.code == 422 and "immutable" in str(info.value)


def test_kubectl_refuses_an_unknown_field_and_a_spec_change(cluster: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(task("typo", "k8s.add", 1, 1, prority=3)))
    proc = cluster.kubectl("apply", "-f", str(path), check=False)
    assert proc.returncode != 0 and 'unknown field "spec.prority"' in proc.stderr
    path.write_text(yaml.safe_dump(task("once", "k8s.add", 1, 1)))
    cluster.kubectl("apply", "-f", str(path))
    path.write_text(yaml.safe_dump(task("once", "k8s.add", 5, 5)))
    proc = cluster.kubectl("apply", "-f", str(path), check=False)
    assert proc.returncode != 0 and "spec is immutable" in proc.stderr


def _contains(actual: Any, written: Any) -> None:
    """Everything written is kept as written (defaulting only adds)."""
    if isinstance(written, dict):
        for key, value in written.items():
            _contains(actual[key], value)
    else:
        assert actual == written


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_manifests_are_valid(cluster: Any, path: Path) -> None:
    cluster.install_crds(sorted((ROOT / "crds").glob("*.yaml")))  # WorkerPool's too
    for doc in yaml.safe_load_all(path.read_text()):
        doc.setdefault("metadata", {})["namespace"] = "default"
        created = cluster.create(doc)
        _contains(created["spec"], doc["spec"])


def test_kubectl_apply_get_wait_describe_delete(
        cluster: Any, start_operator: Callable[..., Any], k8s_worker: Callable[..., Any],
        tmp_path: Path) -> None:
    start_operator()
    k8s_worker()
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(task("kadd", "k8s.add", 40, 2)))
    assert "task.celeriac.dev/kadd created" in cluster.kubectl("apply", "-f", str(path)).stdout
    cluster.kubectl("wait", "--for=jsonpath={.status.state}=SUCCESS", "ctask/kadd", "--timeout=30s")
    cluster.kubectl("wait", "--for=condition=Finished", "task/kadd", "--timeout=10s")
    table = cluster.kubectl("get", "ctask", "kadd").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "TASK", "RESULT", "WORKER", "AGE"]
    row = table[1].split()
    assert row[:4] == ["kadd", "SUCCESS", "k8s.add", "42"]
    wide = cluster.kubectl("get", "tasks", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-3:] == ["RETRIES", "RUNTIME", "AGE"]
    listed = cluster.kubectl("get", "celeriac").stdout
    assert "task.celeriac.dev/kadd" in listed
    obj = json.loads(cluster.kubectl("get", "task", "kadd", "-o", "json").stdout)
    assert obj["status"]["result"] == 42 and "kopf" not in obj["status"]
    describe = cluster.kubectl("describe", "task", "kadd").stdout
    assert "Succeeded" in describe and "returned 42" in describe and "Enqueued" in describe
    cluster.kubectl("delete", "-f", str(path), "--timeout=20s")
    assert cluster.get(API, "Task", "kadd", "default") is None
