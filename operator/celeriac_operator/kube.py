"""The operator's own Kubernetes API calls (beyond kopf's watching and handler patches).

Why it exists: status is written by the operator itself (coalesced, rate-limited, never
through kopf's ``status.<handler>`` bookkeeping), and so are Kubernetes Events, TTL
deletions, the Tasks a Schedule creates and the leader Lease. The kubernetes client is
blocking, so every call runs in a bounded thread pool, never on the event loop. Nothing
else in the operator builds API requests (the WorkerPool handlers add theirs here).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes

logger = logging.getLogger(__name__)

#: API group and version of every celeriac kind.
GROUP = "celeriac.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: ``source.component`` / ``reportingComponent`` of the Events the operator posts.
COMPONENT = "celeriac-operator"

_MERGE_PATCH = "application/merge-patch+json"

#: Path prefixes of the API groups the operator writes to.
_CELERIAC = f"/apis/{GROUP}/{VERSION}"
_CORE = "/api/v1"
_APPS = "/apis/apps/v1"
_COORDINATION = "/apis/coordination.k8s.io/v1"


class ApiError(Exception):
    """The API server refused a request (anything but 404 and 409)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:500]}")
        self.status = status


class NotFound(ApiError):
    """The object is gone (404): nothing to write any more."""


class Conflict(ApiError):
    """409: already exists, or the resourceVersion / uid precondition failed."""


@dataclass(frozen=True)
class ObjectRef:
    """Which object a write is for (enough for a status patch and an Event)."""

    plural: str
    kind: str
    namespace: str
    name: str
    uid: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any], *, plural: str) -> ObjectRef:
        meta = body.get("metadata") or {}
        return cls(plural=plural, kind=str(body.get("kind") or ""), namespace=str(meta.get("namespace") or ""),
                   name=str(meta.get("name") or ""), uid=str(meta.get("uid") or ""))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.plural, self.namespace, self.name)


def load_config() -> kubernetes.client.ApiClient:
    """An API client from ``KUBECONFIG`` (or ``~/.kube/config``), else the in-cluster
    service account: the same sources kopf's own login uses."""
    configuration = kubernetes.client.Configuration()
    try:
        # The client reads KUBECONFIG once, at import: pass what it says now.
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration)
    except (kubernetes.config.ConfigException, FileNotFoundError, TypeError):
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = 16
    return kubernetes.client.ApiClient(configuration)


class Kube:
    """The operator's API client: each method is one request, run off the event loop.

    Requests are built with the client's serializer and sent as plain JSON: no model
    classes (their validation costs more CPU than the request itself).
    """

    def __init__(self, api: kubernetes.client.ApiClient, *, threads: int = 8) -> None:
        self.api = api
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="celeriac-kube")
        self.reporting_instance = os.environ.get("POD_NAME") or os.uname().nodename

    @classmethod
    def from_environment(cls, *, threads: int = 8) -> Kube:
        return cls(load_config(), threads=threads)

    def _request_sync(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                      content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, payload, post = self.api.param_serialize(
            method=method, resource_path=path, query_params=list((query or {}).items()),
            header_params=headers, body=body, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=payload, post_params=post,
                                     _request_timeout=30)
        data = response.read()  # type: ignore[no-untyped-call]
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data or "")
        if response.status == 404:
            raise NotFound(404, text)
        if response.status == 409:
            raise Conflict(409, text)
        if not 200 <= response.status < 300:
            raise ApiError(int(response.status), text)
        return json.loads(text) if text else {}

    async def _request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                       content_type: str = "application/json") -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self._request_sync(
            method, path, body=body, query=query, content_type=content_type))

    @staticmethod
    def _path(plural: str, namespace: str, name: str | None = None, sub: str | None = None, *,
              api: str = _CELERIAC) -> str:
        """``<api>/namespaces/<namespace>/<plural>[/<name>[/<sub>]]`` (celeriac kinds by default)."""
        path = f"{api}/namespaces/{namespace}/{plural}"
        if name is not None:
            path += f"/{name}"
        if sub is not None:
            path += f"/{sub}"
        return path

    async def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> None:
        """Merge-patch ``status`` of a celeriac object through its ``/status`` subresource."""
        await self._request("PATCH", self._path(ref.plural, ref.namespace, ref.name, "status"),
                            body={"status": dict(status)}, content_type=_MERGE_PATCH)

    async def post_event(self, ref: ObjectRef, *, type_: str, reason: str, message: str) -> None:
        """A core/v1 Event on the object (what ``kubectl describe`` shows)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
            "involvedObject": {"apiVersion": API_VERSION, "kind": ref.kind, "name": ref.name,
                               "namespace": ref.namespace, "uid": ref.uid},
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT, "reportingInstance": self.reporting_instance,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        await self._request("POST", self._path("events", ref.namespace, api=_CORE), body=body)

    async def delete(self, ref: ObjectRef) -> None:
        """Delete the object if it is still the same one (uid precondition)."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if ref.uid:
            body["preconditions"] = {"uid": ref.uid}
        await self._request("DELETE", self._path(ref.plural, ref.namespace, ref.name), body=body)

    async def create(self, plural: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(await self._request("POST", self._path(plural, namespace), body=dict(body)))

    async def list(self, plural: str, namespace: str, *, label_selector: str | None = None,
                   api: str = _CELERIAC) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        result = await self._request("GET", self._path(plural, namespace, api=api), query=query)
        return [dict(item) for item in result.get("items") or []]

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return dict(await self._request("GET", self._path(plural, namespace, name)))

    # -- WorkerPool: the owned Deployment and its pods (apps/v1, core/v1) ---------------------

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(await self._request("GET", self._path("deployments", namespace, name, api=_APPS)))
        except NotFound:
            return None

    async def create_deployment(self, namespace: str, body: Mapping[str, Any]) -> None:
        await self._request("POST", self._path("deployments", namespace, api=_APPS), body=dict(body))

    async def replace_deployment_spec(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """Make the Deployment's labels, our annotations and whole ``spec`` exactly ``body``'s
        (a JSON patch: a merge patch could not drop a key the pool no longer sets)."""
        current = await self.get_deployment(namespace, name) or {}
        annotations = {**((current.get("metadata") or {}).get("annotations") or {}),
                       **(body["metadata"].get("annotations") or {})}
        ops = [
            {"op": "add", "path": "/metadata/labels", "value": body["metadata"].get("labels") or {}},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
            {"op": "replace", "path": "/spec", "value": body["spec"]},
        ]
        await self._request("PATCH", self._path("deployments", namespace, name, api=_APPS), body=ops,
                            content_type="application/json-patch+json")

    async def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        await self._request("PATCH", self._path("deployments", namespace, name, api=_APPS),
                            body={"spec": {"replicas": replicas}}, content_type=_MERGE_PATCH)

    async def list_pods(self, namespace: str, label_selector: str) -> builtins.list[dict[str, Any]]:
        return await self.list("pods", namespace, label_selector=label_selector, api=_CORE)

    async def annotate_pod(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        with contextlib.suppress(NotFound):  # gone meanwhile: nothing to rank
            await self._request("PATCH", self._path("pods", namespace, name, api=_CORE),
                                body={"metadata": {"annotations": dict(annotations)}},
                                content_type=_MERGE_PATCH)

    async def patch_pool_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        await self._request("PATCH", self._path("workerpools", namespace, name, "status"),
                            body={"status": dict(status)}, content_type=_MERGE_PATCH)

    # -- leader Lease (coordination.k8s.io/v1) -------------------------------------------------

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(await self._request("GET", self._path("leases", namespace, name, api=_COORDINATION)))
        except NotFound:
            return None

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(await self._request("POST", self._path("leases", namespace, api=_COORDINATION), body=dict(body)))

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the Lease; the body's ``resourceVersion`` makes it a compare-and-set (409)."""
        return dict(await self._request("PUT", self._path("leases", namespace, name, api=_COORDINATION), body=dict(body)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
