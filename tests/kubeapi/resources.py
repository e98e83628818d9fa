"""The kinds the emulator serves: built-in ones and those that installed CRDs add.

One ``ResourceType`` per served group/version/plural carries what discovery, storage,
subresources and tables need. Built-ins are the ones the chart, the operator and kopf use;
CRD kinds are made from a CustomResourceDefinition when it is created or changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Verbs a normal served resource supports (what discovery lists).
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass
class ResourceType:
    """One served resource at one group/version."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    #: ``status`` and/or ``scale``.
    subresources: frozenset[str] = frozenset()
    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = ".status.selector"
    verbs: tuple[str, ...] = ALL_VERBS
    #: For CRD kinds: the CRD name, this version's schema and printer columns.
    crd: str | None = None
    schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    #: A CRD version's ``selectableFields`` (as field labels: ``spec.color``).
    selectable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.singular:
            self.singular = self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_plural(self) -> tuple[str, str]:
        """The storage key: every version of a resource shares one store."""
        return (self.group, self.plural)

    @property
    def storage_key(self) -> tuple[str, str]:
        """Where the objects live: events.k8s.io/v1 Events are core/v1 Events seen anew."""
        if (self.group, self.plural) == ("events.k8s.io", "events"):
            return ("", "events")
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """``deployments.apps``, ``tasks.celeriac.dev``, ``pods`` (used in messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_qualified(self) -> str:
        """``Task.celeriac.dev``, ``Pod`` (the prefix of an Invalid message)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def base_path(self, namespace: str | None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"


def _b(group: str, version: str, plural: str, kind: str, namespaced: bool = True,
       short: tuple[str, ...] = (), sub: tuple[str, ...] = (), cat: tuple[str, ...] = (),
       verbs: tuple[str, ...] = ALL_VERBS) -> ResourceType:
    return ResourceType(group=group, version=version, plural=plural, kind=kind,
                        namespaced=namespaced, short_names=short, subresources=frozenset(sub),
                        categories=cat, verbs=verbs)


def builtin_types() -> list[ResourceType]:
    """The built-in kinds served from the start (a fresh list each call)."""
    return [
        _b("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",)),
        _b("", "v1", "pods", "Pod", True, ("po",), ("status",), ("all",)),
        _b("", "v1", "services", "Service", True, ("svc",), ("status",), ("all",)),
        _b("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
        _b("", "v1", "secrets", "Secret", True),
        _b("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
        _b("", "v1", "events", "Event", True, ("ev",)),
        _b("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",),
           ("status",)),
        _b("", "v1", "endpoints", "Endpoints", True, ("ep",)),
        _b("", "v1", "nodes", "Node", False, ("no",), ("status",)),
        _b("events.k8s.io", "v1", "events", "Event", True, ("ev",)),
        _b("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale"),
           ("all",)),
        _b("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("status", "scale"),
           ("all",)),
        _b("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale"),
           ("all",)),
        _b("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), ("all",)),
        _b("batch", "v1", "jobs", "Job", True, (), ("status",), ("all",)),
        _b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",),
           ("status",)),
        _b("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
        _b("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
        _b("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        _b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
           False),
        _b("coordination.k8s.io", "v1", "leases", "Lease", True),
        _b("apiextensions.k8s.io", "v1", "customresourcedefinitions",
           "CustomResourceDefinition", False, ("crd", "crds"), ("status",), ("api-extensions",)),
        _b("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
           ("hpa",), ("status",), ("all",)),
        _b("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    ]


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The served versions of a CRD, as resource types."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        sub = version.get("subresources") or {}
        scale = sub.get("scale") or {}
        out.append(ResourceType(
            group=spec.get("group", ""),
            version=version["name"],
            plural=names.get("plural", ""),
            kind=names.get("kind", ""),
            singular=names.get("singular") or names.get("kind", "").lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=frozenset(k for k in ("status", "scale") if k in sub),
            spec_replicas_path=scale.get("specReplicasPath", ".spec.replicas"),
            status_replicas_path=scale.get("statusReplicasPath", ".status.replicas"),
            label_selector_path=scale.get("labelSelectorPath"),
            crd=(crd.get("metadata") or {}).get("name"),
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=list(version.get("additionalPrinterColumns") or []),
            selectable=tuple(f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or []
                             if f.get("jsonPath")),
        ))
    return out


class Registry:
    """Served resource types, looked up by URL parts or by apiVersion and kind."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in builtin_types():
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove_crd(self, crd_name: str) -> None:
        for key, rt in list(self._types.items()):
            if rt.crd == crd_name:
                del self._types[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name to its versions (preferred first), core group excluded."""
        out: dict[str, list[str]] = {}
        for rt in self._types.values():
            if rt.group:
                versions = out.setdefault(rt.group, [])
                if rt.version not in versions:
                    versions.append(rt.version)
        for versions in out.values():
            versions.sort(key=_version_priority)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.group == group and rt.version == version]


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor)


_EVENT_FIELDS = {f"involvedObject.{f}" for f in (
    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")} | {
    "reason", "reportingComponent", "source", "type"}
#: Field labels beyond metadata.name/namespace, per (group, plural), as the server registers them.
_FIELD_LABELS: dict[tuple[str, str], set[str]] = {
    ("", "pods"): {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                   "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                   "status.podIPs", "status.nominatedNodeName"},
    ("", "events"): _EVENT_FIELDS,
    ("events.k8s.io", "events"): {f"regarding.{f}" for f in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")} | {
        "reason", "reportingController", "type"},
    ("", "secrets"): {"type"},
    ("", "namespaces"): {"status.phase"},
    ("", "nodes"): {"spec.unschedulable"},
    ("apps", "replicasets"): {"status.replicas"},
    ("batch", "jobs"): {"status.successful"},
}


def selectable_fields(rt: ResourceType) -> set[str]:
    """The field labels a field selector may use on this kind."""
    return {"metadata.name", "metadata.namespace", *rt.selectable,
            *_FIELD_LABELS.get(rt.group_plural, set())}
