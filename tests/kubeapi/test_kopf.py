"""A real kopf operator (a toy one, in-thread with ``KopfRunner``) against the emulator:
it watches, patches status, holds and releases its finalizer, and posts events."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner

from helpers import wait_for
from kubeapi import KubeAPI
from kubeapi.toys import API_VERSION, GROUP, KIND, PLURAL, VERSION, crd, widget


def _toy_operator() -> tuple[kopf.OperatorRegistry, kopf.OperatorSettings, list[str]]:
    registry = kopf.OperatorRegistry()
    settings = kopf.OperatorSettings()
    settings.posting.level = logging.INFO  # must be an int
    settings.watching.connect_timeout = 5
    settings.watching.server_timeout = 10
    deleted: list[str] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:  # a custom registry has no default login handlers
        return kopf.login_via_client(**kwargs)

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, id="widget_created")
    def widget_created(body: Any, patch: kopf.Patch, **_: Any) -> None:
        patch.status["state"] = "Created"
        patch.status["replicas"] = body["spec"]["replicas"]
        kopf.info(body, reason="Created", message=f"size {body['spec']['size']}")

    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec.color", registry=registry, id="widget_color")
    def widget_color(new: Any, patch: kopf.Patch, **_: Any) -> None:
        patch.status["state"] = f"Painted {new}"

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, id="widget_deleted")
    def widget_deleted(name: str, **_: Any) -> None:
        deleted.append(name)

    return registry, settings, deleted


def _state(api: KubeAPI, name: str = "w1") -> Any:
    obj = api.get(API_VERSION, KIND, name, "default")
    return ((obj or {}).get("status") or {}).get("state")


@pytest.mark.timeout(60)
def test_kopf_operator_runs_against_the_emulator(kube_api: KubeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    kube_api.make_default(monkeypatch)
    kube_api.create(crd())
    kube_api.create(widget("before"))  # exists before the operator starts: seen by its list
    registry, settings, deleted = _toy_operator()
    with KopfRunner(["run", "--standalone", "-A", "--verbose"], registry=registry, settings=settings,
                    timeout=30) as runner:
        wait_for(lambda: _state(kube_api, "before") == "Created", 20, what="the listed widget handled")
        kube_api.create(widget("w1"))
        wait_for(lambda: _state(kube_api) == "Created", 10, what="status patched by kopf")
        obj = kube_api.get(API_VERSION, KIND, "w1", "default")
        assert obj is not None and obj["status"]["replicas"] == 1
        assert obj["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
        events = wait_for(lambda: [e for e in kube_api.events(obj) if e["reason"] == "Created"], 10)
        assert events[0]["message"] == "size 3" and events[0]["type"] == "Normal"
        assert events[0]["involvedObject"]["uid"] == obj["metadata"]["uid"]

        kube_api.patch(API_VERSION, KIND, "w1", {"spec": {"color": "red"}}, "default")
        wait_for(lambda: _state(kube_api) == "Painted red", 10, what="the field handler")

        kube_api.delete(API_VERSION, KIND, "w1", "default")
        wait_for(lambda: kube_api.get(API_VERSION, KIND, "w1", "default") is None, 10,
                 what="kopf to release its finalizer")
        assert deleted == ["w1"]
    assert runner.exit_code == 0, runner.output
    patches = [r for r in kube_api.requests if r.method == "PATCH"]
    kinds = {r.headers.get("Content-Type") for r in patches}
    assert kinds <= {"application/merge-patch+json", "application/json-patch+json"}, kinds
    assert any(r.subresource == "status" for r in patches)  # kopf saw the status subresource


@pytest.mark.timeout(120)
def test_kopf_peering_with_two_replicas(kube_api: KubeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    kube_api.make_default(monkeypatch)
    kube_api.create(crd())
    kube_api.install_kopf_peering()
    reg1, settings1, _ = _toy_operator()
    reg2, settings2, _ = _toy_operator()

    def peers() -> dict[str, Any]:
        peering = kube_api.get("kopf.dev/v1", "ClusterKopfPeering", "default")
        return {k: v for k, v in ((peering or {}).get("status") or {}).items() if v}

    with KopfRunner(["run", "-A", "--priority", "100"], registry=reg1, settings=settings1, timeout=30), \
            KopfRunner(["run", "-A", "--priority", "200"], registry=reg2, settings=settings2, timeout=30):
        found = wait_for(lambda: len(peers()) == 2 and peers(), 20, what="both replicas in the peering")
        assert sorted(p["priority"] for p in found.values()) == [100, 200]
        kube_api.create(widget("w1"))
        # 20 s was missed once on a loaded machine (kopf's peering settles after both replicas
        # announced themselves); the assertion is unchanged, only the patience.
        wait_for(lambda: _state(kube_api) == "Created", 45, what="the active replica to handle it")
