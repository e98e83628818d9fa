"""Watch streams: initial ADDED, resume from a resourceVersion, 410 when too old,
selector edges, namespaces, bookmarks, sendInitialEvents, timeouts; and the official
``kubernetes`` client (``watch=True`` is what older versions of it sent; 37 sends ``true``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kubeapi import KubeAPI

CM = "/api/v1/namespaces/default/configmaps"


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def _types(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_watch_from_now_and_from_a_resource_version(kube_api: KubeAPI) -> None:
    first = kube_api.create(cm("a"))
    rv = first["metadata"]["resourceVersion"]

    def changes() -> None:
        kube_api.patch("v1", "ConfigMap", "a", {"data": {"x": "1"}}, "default")
        kube_api.create(cm("b"))
        kube_api.delete("v1", "ConfigMap", "a", "default")

    events = kube_api.watch(CM + "?watch=true", 4, then=changes)
    assert _types(events) == [("ADDED", "a"), ("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    # resume: exactly what happened after the first object's creation, replayed
    replay = kube_api.watch(f"{CM}?watch=True&resourceVersion={rv}", 3, timeout=2)  # older clients' spelling
    assert _types(replay) == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_too_old_resource_version_is_410(kube_api: KubeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    kube_api.create(cm("a"))
    kube_api.call(lambda: kube_api.store.log.clear())  # as if compacted
    kube_api.create(cm("b"))
    events = kube_api.watch(f"{CM}?watch=true&resourceVersion=1", 1, timeout=2)
    assert events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


def test_selectors_and_namespaces_filter_and_edges_are_added_or_deleted(kube_api: KubeAPI) -> None:
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})

    def changes() -> None:
        kube_api.create(cm("x", app="web"))
        kube_api.create(cm("y", app="db"))
        kube_api.create(cm("z", app="web"), namespace="other")
        kube_api.patch("v1", "ConfigMap", "y", {"metadata": {"labels": {"app": "web"}}}, "default")
        kube_api.patch("v1", "ConfigMap", "x", {"metadata": {"labels": {"app": "db"}}}, "default")

    events = kube_api.watch(f"{CM}?watch=true&labelSelector=app%3Dweb", 3, then=changes)
    assert _types(events) == [("ADDED", "x"), ("ADDED", "y"), ("DELETED", "x")]
    everywhere = kube_api.watch("/api/v1/configmaps?watch=true&labelSelector=app%3Dweb", 2, timeout=2)
    assert sorted(_types(everywhere)) == [("ADDED", "y"), ("ADDED", "z")]
    named = kube_api.watch(f"{CM}?watch=true&fieldSelector=metadata.name%3Dy", 1, timeout=2)
    assert _types(named) == [("ADDED", "y")]


def test_bookmarks_initial_events_and_timeout(kube_api: KubeAPI) -> None:
    assert kube_api.handler is not None
    kube_api.handler.bookmark_interval_s = 0.1
    kube_api.create(cm("a"))
    events = kube_api.watch(f"{CM}?watch=true&allowWatchBookmarks=true&sendInitialEvents=true"
                            "&resourceVersionMatch=NotOlderThan", 3, timeout=3)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert events[1]["object"]["kind"] == "ConfigMap"
    started = time.monotonic()
    events = kube_api.watch(f"{CM}?watch=true&timeoutSeconds=1", 10, timeout=5)
    assert _types(events) == [("ADDED", "a")] and time.monotonic() - started < 3


def test_the_kubernetes_client_lists_watches_and_patches(kube_api: KubeAPI) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(config_file=str(kube_api.kubeconfig))
    core = kubernetes.client.CoreV1Api(client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "k"}, "data": {"a": "1"}})
    listed = core.list_namespaced_config_map("default")
    assert [i.metadata.name for i in listed.items] == ["k"]
    seen: list[tuple[str, str]] = []
    watch = kubernetes.watch.Watch()

    def later() -> None:
        time.sleep(0.3)
        core.patch_namespaced_config_map("k", "default", {"data": {"a": "2"}})
        core.delete_namespaced_config_map("k", "default")

    threading.Thread(target=later, daemon=True).start()
    for event in watch.stream(core.list_namespaced_config_map, "default",
                              resource_version=listed.metadata.resource_version, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            watch.stop()
    assert seen == [("MODIFIED", "k"), ("DELETED", "k")]
    assert any(r.params.get("watch") == "true" for r in kube_api.requests)  # kubernetes 37 sends "true"
    with pytest.raises(kubernetes.client.ApiException) as e:
        core.read_namespaced_config_map("k", "default")
    assert e.value.status == 404
    client.close()
