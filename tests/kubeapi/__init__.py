"""A Kubernetes API server emulator for tests: kmock underneath, realism of our own on top.

Use the pytest fixture ``kube_api`` (registered in tests/conftest.py), a fresh server per
test on 127.0.0.1::

    def test_something(kube_api, monkeypatch):
        kube_api.install_crds(sorted(ROOT.glob("crds/*.yaml")))
        kube_api.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "Task", ...})
        kube_api.get("celeriac.dev/v1alpha1", "Task", "t1", "default")   # None if absent
        kube_api.patch(api_version, kind, name, {"status": {...}}, ns, subresource="status")
        kube_api.events(obj)                 # core/v1 Events about it, oldest first
        kube_api.kubectl("get", "tasks")     # the venv's kubectl, private KUBECACHEDIR
        env = kube_api.env()                 # KUBECONFIG (+KUBECACHEDIR) for subprocesses
        kube_api.make_default(monkeypatch)   # in-process kopf/kubernetes use it too
        kube_api.requests                    # every HTTP request served (kmock.Request)

Standalone, for poking at by hand: ``python -m tests.kubeapi --port 8001 --crds crds/*.yaml``.

Realistic (and tested in tests/kubeapi/): storage of the built-in kinds the chart and the
operator use and of any CRD's kinds; uid, resourceVersion (one global counter),
generation (spec changes only), creationTimestamp, managedFields (field owners per
manager, server-side apply conflicts: 409 unless ``force=true``);
201/200/202/404/409 (AlreadyExists; Conflict on a stale resourceVersion)/422 (Invalid,
and a failed JSON-patch ``test``)/400/403/410/415 with ``Status`` bodies worded like the
server's; merge, JSON, strategic merge patches and server-side apply; ``/status`` and
``/scale``; label and field selectors, limit/continue; watches (resume from a
resourceVersion, 410 when compacted, selector edges as ADDED/DELETED, bookmarks,
sendInitialEvents, timeoutSeconds, Table events for ``kubectl get -w``); finalizers and
deletionTimestamp, garbage collection (Background, Foreground, Orphan, dangling owners),
namespace termination, pods bound to a node waiting for their kubelet's grace-0 delete;
discovery (legacy and aggregated, subresources, short names, categories), OpenAPI v3
with ``fieldValidation`` so kubectl validates on the server; Table responses with CRD
printer columns; CRD structural checks, pruning, defaulting, schema validation
(jsonschema) and CEL rules with ``oldSelf`` (cel-python); built-in kinds decoded like
Go structs (kubernetes-validate's strict schemas); core/v1 and events.k8s.io/v1 Events as
two views of one store; field selectors only on each kind's field labels; protobuf bodies of the kinds clients
send so (Secret, ConfigMap, Namespace, ServiceAccount, DeleteOptions). kopf, kubectl,
the kubernetes client and helm-python-sdk (Helm 4) are run against it in the tests.

Not emulated: controllers other than the garbage collector and the namespace controller
(nothing turns a Deployment into Pods; ``tests/kubelet.py`` does that for WorkerPools),
authentication and RBAC (any token is accepted, nothing is forbidden), admission
webhooks, CRD conversion between versions (apiVersion is rewritten, fields are not),
field ownership beyond leaf fields (server-side apply conflicts are found per leaf field,
lists of maps by their usual key, other lists atomic), validation ratcheting of OpenAPI errors (CEL rules are ratcheted), the
Go validation rules of built-in kinds beyond types, unknown and required fields, CEL
cost limits and the Kubernetes CEL library beyond cel-python's, protobuf responses.
"""

from __future__ import annotations

from .errors import ApiError, FieldError
from .fixture import KUBECTL, KubeAPI, kube_api
from .resources import ResourceType
from .server import KubeEmulator

__all__ = ["KUBECTL", "ApiError", "FieldError", "KubeAPI", "KubeEmulator", "ResourceType", "kube_api"]
