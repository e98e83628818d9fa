"""The emulator's API semantics over HTTP: codes, metadata, patches, status, selectors,
finalizers, garbage collection, namespaces, scale, discovery."""

from __future__ import annotations

import time
from typing import Any

import pytest

from helpers import wait_for
from kubeapi import ApiError, KubeAPI
from kubeapi.toys import API_VERSION, crd, widget

CM = "/api/v1/namespaces/default/configmaps"
WD = "/apis/example.dev/v1/namespaces/default/widgets"


def cm(name: str = "c1", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
            "data": {"a": "1"}}


def test_create_get_codes_and_metadata(kube_api: KubeAPI) -> None:
    status, body, _ = kube_api.request("POST", CM, cm())
    assert status == 201
    meta = body["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    status, again, _ = kube_api.request("POST", CM, cm())
    assert (status, again["kind"], again["reason"]) == (409, "Status", "AlreadyExists")
    assert again["message"] == 'configmaps "c1" already exists'
    status, missing, _ = kube_api.request("GET", CM + "/nope")
    assert (status, missing["reason"], missing["message"]) == (404, "NotFound", 'configmaps "nope" not found')
    status, got, _ = kube_api.request("GET", CM + "/c1")
    assert status == 200 and got == body
    status, listed, _ = kube_api.request("GET", CM)
    assert listed["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in listed["items"]] == ["c1"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    status, bad, _ = kube_api.request("POST", CM, {"metadata": {"name": "Bad_Name"}})
    assert status == 422 and bad["reason"] == "Invalid" and "metadata.name: Invalid value" in bad["message"]
    status, nons, _ = kube_api.request("POST", "/api/v1/namespaces/ghost/configmaps", cm())
    assert status == 404 and nons["message"] == 'namespaces "ghost" not found'
    status, _, _ = kube_api.request("GET", "/apis/nothing.dev/v1/things")
    assert status == 404


def test_resource_version_is_global_and_conflicts_are_409(kube_api: KubeAPI) -> None:
    a = kube_api.create(cm("a"))
    b = kube_api.create(cm("b"))
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    a["data"] = {"a": "2"}
    status, updated, _ = kube_api.request("PUT", CM + "/a", a)
    assert status == 200 and updated["metadata"]["resourceVersion"] != a["metadata"]["resourceVersion"]
    status, stale, _ = kube_api.request("PUT", CM + "/a", a)  # the old resourceVersion again
    assert (status, stale["reason"]) == (409, "Conflict")
    assert "the object has been modified" in stale["message"]
    # a no-op write keeps the resourceVersion and sends no event
    same = kube_api.patch("v1", "ConfigMap", "a", {"data": {"a": "2"}}, "default")
    assert same["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]


def test_generation_moves_on_spec_changes_only(kube_api: KubeAPI) -> None:
    kube_api.create(crd())
    w = kube_api.create(widget())
    assert w["metadata"]["generation"] == 1
    w = kube_api.patch(API_VERSION, "Widget", "w1", {"metadata": {"labels": {"x": "y"}}}, "default")
    assert w["metadata"]["generation"] == 1
    w = kube_api.patch(API_VERSION, "Widget", "w1", {"status": {"state": "ok"}}, "default", subresource="status")
    assert w["metadata"]["generation"] == 1
    w = kube_api.patch(API_VERSION, "Widget", "w1", {"spec": {"color": "red"}}, "default")
    assert w["metadata"]["generation"] == 2


def test_status_subresource_is_kept_apart(kube_api: KubeAPI) -> None:
    kube_api.create(crd())
    created = kube_api.create({**widget(), "status": {"state": "ignored"}})
    assert "status" not in created  # status is not writable on create
    status, body, _ = kube_api.request("PATCH", WD + "/w1", {"spec": {"color": "red"}, "status": {"state": "x"}},
                                       content_type="application/merge-patch+json")
    assert status == 200 and body["spec"]["color"] == "red" and "status" not in body
    status, body, _ = kube_api.request("PATCH", WD + "/w1/status", {"spec": {"color": "blue"}, "status": {"state": "done"}},
                                       content_type="application/merge-patch+json")
    assert status == 200 and body["status"] == {"state": "done"} and body["spec"]["color"] == "red"
    body["status"]["state"] = "again"
    body["spec"]["color"] = "blue"
    status, put, _ = kube_api.request("PUT", WD + "/w1/status", body)
    assert status == 200 and put["status"]["state"] == "again" and put["spec"]["color"] == "red"


def test_json_patch_test_failure_is_422(kube_api: KubeAPI) -> None:
    kube_api.create({**cm(), "metadata": {"name": "c1", "finalizers": ["a/b"]}})
    ops = [{"op": "test", "path": "/metadata/finalizers", "value": ["other"]},
           {"op": "replace", "path": "/metadata/finalizers", "value": []}]
    status, body, _ = kube_api.request("PATCH", CM + "/c1", ops, content_type="application/json-patch+json")
    assert (status, body["reason"]) == (422, "Invalid")
    ops[0]["value"] = ["a/b"]
    status, body, _ = kube_api.request("PATCH", CM + "/c1", ops, content_type="application/json-patch+json")
    assert status == 200 and "finalizers" not in body["metadata"]


def test_merge_and_strategic_patches(kube_api: KubeAPI) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
               "metadata": {"labels": {"app": "d"}},
               "spec": {"containers": [{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                                       {"name": "b", "image": "b:1"}]}}}}
    kube_api.create(dep)
    smp = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
        {"name": "b", "$patch": "delete"}]}}}}
    status, body, _ = kube_api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/d", smp,
                                       content_type="application/strategic-merge-patch+json")
    assert status == 200
    containers = body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a"] and containers[0]["image"] == "a:2"
    assert [e["name"] for e in containers[0]["env"]] == ["X", "Y"]
    assert body["metadata"]["generation"] == 2 and body["spec"]["replicas"] == 1  # defaulted
    order = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "z"}, {"name": "a"}],
                                            "containers": [{"name": "z", "image": "z"}]}}}}
    status, body, _ = kube_api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/d", order,
                                       content_type="application/strategic-merge-patch+json")
    assert [c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == ["z", "a"]
    # a merge patch replaces lists wholesale, and null deletes
    status, body, _ = kube_api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/d",
                                       {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c"}]}}},
                                        "metadata": {"labels": None}},
                                       content_type="application/merge-patch+json")
    assert [c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == ["c"]
    kube_api.create(crd())
    kube_api.create(widget())
    status, body, _ = kube_api.request("PATCH", WD + "/w1", {"spec": {"size": 1}},
                                       content_type="application/strategic-merge-patch+json")
    assert status == 415  # custom resources refuse strategic merge patches


def test_server_side_apply_adds_and_removes_owned_fields(kube_api: KubeAPI) -> None:
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s", "labels": {"a": "1"}},
           "data": {"x": "1", "y": "2"}}
    path = CM + "/s?fieldManager=helm"
    status, body, _ = kube_api.request("PATCH", path, cfg, content_type="application/apply-patch+yaml")
    assert status == 201 and body["data"] == {"x": "1", "y": "2"}
    assert body["metadata"]["managedFields"][0]["manager"] == "helm"
    kube_api.patch("v1", "ConfigMap", "s", {"data": {"z": "other-manager"}}, "default")
    cfg["data"] = {"x": "10"}
    status, body, _ = kube_api.request("PATCH", path, cfg, content_type="application/apply-patch+yaml")
    assert status == 200 and body["data"] == {"x": "10", "z": "other-manager"}
    status, body, _ = kube_api.request("PATCH", CM + "/s", cfg, content_type="application/apply-patch+yaml")
    assert status == 400  # no fieldManager


def test_label_and_field_selectors(kube_api: KubeAPI) -> None:
    kube_api.create(cm("a", app="x", tier="web"))
    kube_api.create(cm("b", app="y", tier="web"))
    kube_api.create(cm("c", app="z"))

    def names(selector: str, key: str = "labelSelector") -> list[str]:
        from urllib.parse import quote
        status, body, _ = kube_api.request("GET", f"{CM}?{key}={quote(selector)}")
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert names("app=x") == ["a"]
    assert names("app==x") == ["a"]
    assert names("app!=x") == ["b", "c"]
    assert names("app in (x, y)") == ["a", "b"]
    assert names("app notin (x)") == ["b", "c"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]
    assert names("tier=web,app=y") == ["b"]
    assert names("metadata.name=b", "fieldSelector") == ["b"]
    assert names("metadata.name!=b", "fieldSelector") == ["a", "c"]
    assert names("metadata.namespace=default", "fieldSelector") == ["a", "b", "c"]
    _, body, _ = kube_api.request("GET", "/api/v1/configmaps?labelSelector=app%3Dz")
    assert [i["metadata"]["name"] for i in body["items"]] == ["c"]  # cluster-wide list
    _, page, _ = kube_api.request("GET", f"{CM}?limit=2")
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    _status, rest, _ = kube_api.request("GET", f"{CM}?limit=2&continue={page['metadata']['continue']}")
    assert [i["metadata"]["name"] for i in rest["items"]] == ["c"]


def test_finalizers_hold_deletion_until_removed(kube_api: KubeAPI) -> None:
    kube_api.create({**cm(), "metadata": {"name": "c1", "finalizers": ["example.dev/hold"]}})
    status, body, _ = kube_api.request("DELETE", CM + "/c1")
    assert status in (200, 202) and body["metadata"]["deletionTimestamp"]
    held = kube_api.get("v1", "ConfigMap", "c1", "default")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiError) as e:
        kube_api.patch("v1", "ConfigMap", "c1", {"metadata": {"finalizers": ["example.dev/hold", "new"]}}, "default")
    assert e.value.code == 422 and "no new finalizers can be added" in e.value.message
    kube_api.patch("v1", "ConfigMap", "c1", {"metadata": {"finalizers": None}}, "default")
    assert kube_api.get("v1", "ConfigMap", "c1", "default") is None
    status, body, _ = kube_api.request("DELETE", CM + "/c1")
    assert status == 404


def test_delete_preconditions(kube_api: KubeAPI) -> None:
    c = kube_api.create(cm())
    status, body, _ = kube_api.request("DELETE", CM + "/c1", {"preconditions": {"uid": "other"}})
    assert status == 409 and "Precondition failed" in body["message"]
    status, body, _ = kube_api.request("DELETE", CM + "/c1", {"preconditions": {"uid": c["metadata"]["uid"]}})
    assert status == 200 and body["status"] == "Success"


def _owned(name: str, owner: dict[str, Any], block: bool = False) -> dict[str, Any]:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    return {**cm(name), "metadata": {"name": name, "ownerReferences": [ref]}}


def test_garbage_collection_background_recursive(kube_api: KubeAPI) -> None:
    root = kube_api.create(cm("root"))
    child = kube_api.create(_owned("child", root))
    kube_api.create(_owned("grandchild", child))
    kube_api.create(cm("bystander"))
    kube_api.delete("v1", "ConfigMap", "root", "default")
    wait_for(lambda: [c["metadata"]["name"] for c in kube_api.list("v1", "ConfigMap", "default")] == ["bystander"],
             5, what="dependents to be collected")


def test_garbage_collection_orphan_and_foreground(kube_api: KubeAPI) -> None:
    owner = kube_api.create(cm("owner"))
    kube_api.create(_owned("kept", owner))
    kube_api.delete("v1", "ConfigMap", "owner", "default", propagation="Orphan")
    kept = wait_for(lambda: kube_api.get("v1", "ConfigMap", "kept", "default"), 5)
    assert "ownerReferences" not in kept["metadata"]
    owner = kube_api.create(cm("fg"))
    kube_api.create({**_owned("dep", owner, block=True), "metadata": {
        **_owned("dep", owner, block=True)["metadata"], "finalizers": ["example.dev/slow"]}})
    kube_api.delete("v1", "ConfigMap", "fg", "default", propagation="Foreground")
    fg = kube_api.get("v1", "ConfigMap", "fg", "default")
    assert fg is not None and "foregroundDeletion" in fg["metadata"]["finalizers"]
    wait_for(lambda: (kube_api.get("v1", "ConfigMap", "dep", "default") or {}).get("metadata", {}).get("deletionTimestamp"), 5)
    assert kube_api.get("v1", "ConfigMap", "fg", "default") is not None  # waits for its dependent
    kube_api.patch("v1", "ConfigMap", "dep", {"metadata": {"finalizers": None}}, "default")
    wait_for(lambda: kube_api.get("v1", "ConfigMap", "fg", "default") is None, 5, what="owner to go")


def test_dangling_owner_reference_is_collected(kube_api: KubeAPI) -> None:
    fake = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "uid": "no-such-uid"}}
    kube_api.create(_owned("orphan", fake))
    wait_for(lambda: kube_api.get("v1", "ConfigMap", "orphan", "default") is None, 5)


def test_namespace_deletion_empties_it(kube_api: KubeAPI) -> None:
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})
    kube_api.create(cm("a"), namespace="tmp")
    kube_api.create({**cm("held"), "metadata": {"name": "held", "finalizers": ["x.dev/y"]}}, namespace="tmp")
    kube_api.delete("v1", "Namespace", "tmp")
    ns = kube_api.get("v1", "Namespace", "tmp")
    assert ns is not None and ns["status"]["phase"] == "Terminating"
    with pytest.raises(ApiError) as e:
        kube_api.create(cm("late"), namespace="tmp")
    assert e.value.code == 403 and "being terminated" in e.value.message
    wait_for(lambda: kube_api.get("v1", "ConfigMap", "a", "tmp") is None, 5)
    assert kube_api.get("v1", "Namespace", "tmp") is not None  # the finalizer still holds it
    kube_api.patch("v1", "ConfigMap", "held", {"metadata": {"finalizers": None}}, "tmp")
    wait_for(lambda: kube_api.get("v1", "Namespace", "tmp") is None, 5, what="namespace to go")


def test_scale_subresource_for_deployments_and_crds(kube_api: KubeAPI) -> None:
    kube_api.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                              "template": {"metadata": {"labels": {"app": "d"}},
                                           "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    path = "/apis/apps/v1/namespaces/default/deployments/d/scale"
    status, scale, _ = kube_api.request("GET", path)
    assert (status, scale["kind"], scale["spec"]["replicas"], scale["status"]["selector"]) == (200, "Scale", 2, "app=d")
    status, scale, _ = kube_api.request("PATCH", path, {"spec": {"replicas": 5}},
                                        content_type="application/merge-patch+json")
    assert status == 200 and scale["spec"]["replicas"] == 5
    assert kube_api.get("apps/v1", "Deployment", "d", "default")["spec"]["replicas"] == 5  # type: ignore[index]
    kube_api.create(crd())
    kube_api.create(widget())
    status, scale, _ = kube_api.request("PUT", WD + "/w1/scale", {"apiVersion": "autoscaling/v1", "kind": "Scale",
                                                                 "metadata": {"name": "w1"}, "spec": {"replicas": 4}})
    assert status == 200 and scale["spec"]["replicas"] == 4
    assert kube_api.get(API_VERSION, "Widget", "w1", "default")["spec"]["replicas"] == 4  # type: ignore[index]
    status, _, _ = kube_api.request("PATCH", path, {"spec": {"replicas": -1}}, content_type="application/merge-patch+json")
    assert status == 422


def test_discovery_lists_builtins_crds_and_subresources(kube_api: KubeAPI) -> None:
    status, core, _ = kube_api.request("GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    names = {r["name"] for r in core["resources"]}
    assert {"pods", "pods/status", "namespaces", "configmaps", "secrets", "events", "services",
            "serviceaccounts", "persistentvolumeclaims"} <= names
    status, apps, _ = kube_api.request("GET", "/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    status, _, _ = kube_api.request("GET", "/apis/example.dev/v1")
    assert status == 404
    created = kube_api.create(crd())
    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    status, toys, _ = kube_api.request("GET", "/apis/example.dev/v1")
    widgets = next(r for r in toys["resources"] if r["name"] == "widgets")
    assert widgets["shortNames"] == ["wd"] and widgets["categories"] == ["toys"] and widgets["namespaced"]
    assert {r["name"] for r in toys["resources"]} == {"widgets", "widgets/status", "widgets/scale"}
    status, groups, _ = kube_api.request("GET", "/apis")
    assert "example.dev" in {g["name"] for g in groups["groups"]}
    status, agg, headers = kube_api.request(
        "GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    assert agg["kind"] == "APIGroupDiscoveryList" and "as=APIGroupDiscoveryList" in headers["Content-Type"]
    kube_api.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.dev")
    status, _, _ = kube_api.request("GET", "/apis/example.dev/v1/widgets")
    assert status == 404


def test_protobuf_bodies_get_415_not_a_crash(kube_api: KubeAPI) -> None:
    status, body, _ = kube_api.request("POST", CM, b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\xff\xfe",
                                       content_type="application/vnd.kubernetes.protobuf")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    status, body, _ = kube_api.request("GET", CM, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert status == 406


def test_table_format_for_crds_and_builtins(kube_api: KubeAPI) -> None:
    kube_api.create(crd())
    kube_api.create(widget())
    kube_api.patch(API_VERSION, "Widget", "w1", {"status": {"state": "Running", "conditions": [
        {"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}}, "default", subresource="status")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    _, t, _ = kube_api.request("GET", WD, headers={"Accept": accept})
    assert t["kind"] == "Table"
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Size", "Color", "State", "Ready", "Age"]
    cells = t["rows"][0]["cells"]
    assert cells[:5] == ["w1", 3, "blue", "Running", "True"] and cells[5].endswith("s")
    assert t["rows"][0]["object"]["metadata"]["name"] == "w1"
    kube_api.create(cm())
    _status, t, _ = kube_api.request("GET", CM, headers={"Accept": accept})
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"] and t["rows"][0]["cells"][:2] == ["c1", 1]


def test_pod_on_a_node_waits_for_its_kubelet(kube_api: KubeAPI) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i"}]}}
    created = kube_api.create(pod)
    assert created["status"]["phase"] == "Pending"
    terminating = kube_api.delete("v1", "Pod", "p", "default")
    assert terminating is not None and terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    assert kube_api.get("v1", "Pod", "p", "default") is not None
    kube_api.delete("v1", "Pod", "p", "default", grace_period_s=0)  # what the kubelet does
    assert kube_api.get("v1", "Pod", "p", "default") is None
    kube_api.create({**pod, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    kube_api.delete("v1", "Pod", "p", "default")  # not scheduled: goes at once
    assert kube_api.get("v1", "Pod", "p", "default") is None


def test_requests_are_recorded_by_kmock(kube_api: KubeAPI) -> None:
    kube_api.request("POST", CM, cm())
    kube_api.request("GET", CM + "/c1?x=1")
    last = kube_api.requests[-1]
    assert last.method == "GET" and last.params == {"x": "1"} and last.name == "c1"
    assert kube_api.requests[-2].data["metadata"]["name"] == "c1"
    assert time.monotonic() > 0


def test_kmock_reactions_still_inject_faults_ahead_of_the_emulation(kube_api: KubeAPI) -> None:
    import kmock

    assert kube_api.handler is not None
    kube_api.create(cm("x"))
    kube_api.handler["get", kmock.resource("", "v1", "configmaps")][:2] << 503
    codes = [kube_api.request("GET", CM + "/x")[0] for _ in range(3)]
    assert codes == [503, 503, 200]


def test_events_in_both_groups(kube_api: KubeAPI) -> None:
    target = kube_api.create(cm("x"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "namespace": "default",
           "uid": target["metadata"]["uid"]}
    kube_api.create({"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "x."},
                     "involvedObject": ref, "reason": "Seen", "message": "core", "type": "Normal"},
                    namespace="default")
    new = kube_api.create({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "x.2"},
                           "regarding": ref, "reason": "Seen", "note": "new API", "type": "Normal",
                           "action": "Look", "reportingController": "tests", "reportingInstance": "t1",
                           "eventTime": "2026-01-01T00:00:00.000000Z"}, namespace="default")
    assert new["note"] == "new API" and new["regarding"]["name"] == "x"
    # one object, two views (as on a real server)
    events = kube_api.events(target)
    assert [e["message"] for e in events] == ["core", "new API"]
    assert events[1]["involvedObject"]["uid"] == target["metadata"]["uid"]
    status, body, _ = kube_api.request(
        "GET", "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3Dx")
    assert status == 200 and sorted(e.get("note") for e in body["items"]) == ["core", "new API"]
    assert body["items"][0]["apiVersion"] == "events.k8s.io/v1"


def test_builtin_kinds_decode_like_go_structs(kube_api: KubeAPI) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
               "metadata": {"labels": {"app": "d"}},
               "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolice": "Always"}]}}}}
    path = "/apis/apps/v1/namespaces/default/deployments"
    status, body, _ = kube_api.request("POST", path + "?fieldValidation=Strict", dep)
    assert status == 400 and body["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].imagePullPolice"')
    status, body, headers = kube_api.request("POST", path, dep)  # Warn: dropped, with a warning
    assert status == 201 and "imagePullPolice" not in body["spec"]["template"]["spec"]["containers"][0]
    assert 'unknown field \\"spec.template.spec.containers[0].imagePullPolice\\"' in headers["Warning"]
    dep["metadata"]["name"], dep["spec"]["replicas"] = "e", "two"
    status, body, _ = kube_api.request("POST", path, dep)
    assert status == 400 and "cannot unmarshal string into Go struct field Deployment.spec.replicas" in body["message"]
    del dep["spec"]["replicas"], dep["spec"]["selector"]
    status, body, _ = kube_api.request("POST", path, dep)
    assert status == 422 and "spec.selector: Required value" in body["message"]


def test_dry_run_delete_collection_and_unconditional_updates(kube_api: KubeAPI) -> None:
    status, body, _ = kube_api.request("POST", CM + "?dryRun=All", cm("dry"))
    assert status == 201 and body["metadata"]["name"] == "dry"
    assert kube_api.get("v1", "ConfigMap", "dry", "default") is None
    for name in ("a", "b", "c"):
        kube_api.create(cm(name, app="x" if name != "c" else "y"))
    status, body, _ = kube_api.request("DELETE", CM + "?labelSelector=app%3Dx")
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["a", "b"]
    assert [c["metadata"]["name"] for c in kube_api.list("v1", "ConfigMap", "default")] == ["c"]
    # a built-in may be PUT without a resourceVersion, a custom resource may not
    status, _, _ = kube_api.request("PUT", CM + "/c", cm("c"))
    assert status == 200
    kube_api.create(crd())
    kube_api.create(widget())
    status, body, _ = kube_api.request("PUT", WD + "/w1", widget())
    assert status == 422 and body["message"] == (
        'Widget.example.dev "w1" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
        "must be specified for an update")


def test_field_selectors_are_limited_to_the_kinds_field_labels(kube_api: KubeAPI) -> None:
    kube_api.create(cm("a"))
    status, body, _ = kube_api.request("GET", CM + "?fieldSelector=data.a%3D1")
    assert (status, body["message"]) == (400, "field label not supported: data.a")
    kube_api.create(crd())
    kube_api.create(widget("r", color="red"))
    kube_api.create(widget("b"))
    status, body, _ = kube_api.request("GET", WD + "?fieldSelector=spec.color%3Dred")  # selectableFields
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["r"]
    status, _, _ = kube_api.request("GET", WD + "?fieldSelector=spec.size%3D3")
    assert status == 400
    status, _, _ = kube_api.request("GET", "/api/v1/namespaces/default/events?fieldSelector="
                                           "involvedObject.name%3Dr%2CinvolvedObject.kind%3DWidget")
    assert status == 200


def test_server_side_apply_conflicts_with_another_managers_fields(kube_api: KubeAPI) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "d"}},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}}, "template": {
               "metadata": {"labels": {"app": "d"}},
               "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    path = "/apis/apps/v1/namespaces/default/deployments/d"
    apply = "application/apply-patch+yaml"
    status, _, _ = kube_api.request("PATCH", path + "?fieldManager=helm", dep, content_type=apply)
    assert status == 201
    status, _, _ = kube_api.request("PATCH", path + "/scale?fieldManager=kubectl-scale", {"spec": {"replicas": 5}},
                                    content_type="application/merge-patch+json")
    assert status == 200
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = "i:2"
    status, body, _ = kube_api.request("PATCH", path + "?fieldManager=helm&force=false", dep, content_type=apply)
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: '
                               ".spec.replicas")
    assert body["details"]["causes"][0]["field"] == ".spec.replicas"
    dep["spec"]["replicas"] = 5  # agreeing with the owner's value is no conflict
    status, body, _ = kube_api.request("PATCH", path + "?fieldManager=helm", dep, content_type=apply)
    assert status == 200 and body["spec"]["template"]["spec"]["containers"][0]["image"] == "i:2"
    dep["spec"]["replicas"] = 3
    status, body, _ = kube_api.request("PATCH", path + "?fieldManager=helm&force=true", dep, content_type=apply)
    assert status == 200 and body["spec"]["replicas"] == 3
    managers = {(e["manager"], e["operation"]): e["fieldsV1"] for e in body["metadata"]["managedFields"]}
    assert "f:replicas" in managers[("helm", "Apply")]["f:spec"]
    assert "f:replicas" not in managers.get(("kubectl-scale", "Update"), {}).get("f:spec", {})
    assert 'k:{"name":"c"}' in managers[("helm", "Apply")]["f:spec"]["f:template"]["f:spec"]["f:containers"]
