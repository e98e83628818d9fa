"""A Kubernetes API server emulator for tests: kmock underneath, realism of our own on top.

Use the pytest fixture ``kube_api`` (registered in tests/conftest.py)::

    def test_something(kube_api):
        kube_api.install_crds(ROOT.glob("crds/*.yaml"))
        kube_api.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "Task", ...})
        env = kube_api.env()            # KUBECONFIG (+ KUBECACHEDIR) for subprocesses
        kube_api.kubectl("get", "tasks")
        kube_api.get("celeriac.dev/v1alpha1", "Task", "t1", "default")

or run it by hand: ``python -m tests.kubeapi --port 8001`` (prints the kubeconfig path).
What it emulates and what it does not is written in each module's docstring:
``store`` (resourceVersion, generation, finalizers, garbage collection, watches),
``schema`` (CRD validation, defaulting, pruning, CEL), ``patching`` (merge, JSON,
strategic merge, server-side apply), ``discovery``, ``openapi``, ``tables``, ``server``.
"""

from __future__ import annotations

from .errors import ApiError, FieldError
from .fixture import KUBECTL, KubeAPI, kube_api
from .resources import ResourceType
from .server import KubeEmulator

__all__ = ["KUBECTL", "ApiError", "FieldError", "KubeAPI", "KubeEmulator", "ResourceType", "kube_api"]
