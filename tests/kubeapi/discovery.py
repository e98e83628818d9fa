"""API discovery: ``/version``, ``/api``, ``/apis`` and per group/version resource lists.

Served from the registry, so a CRD's kinds appear as soon as it is created. Both the
legacy documents (APIVersions, APIGroupList, APIResourceList) and aggregated discovery
(``apidiscovery.k8s.io/v2``, what kubectl asks for first) are served; subresources are
listed (``deployments/scale`` with kind ``Scale`` of ``autoscaling/v1``, which
``kubectl scale`` needs), with short names and categories (``kubectl get celeriac``).
"""

from __future__ import annotations

from typing import Any

from .resources import Registry, ResourceType

#: What ``/version`` reports (kubectl warns when its minor differs by more than one).
SERVER_VERSION = {
    "major": "1", "minor": "36", "gitVersion": "v1.36.0", "gitCommit": "celeriac-emulator",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0",
    "compiler": "gc", "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "36",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "35",
}
_JSON = "application/json"
_AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_SUB_VERBS = ["get", "patch", "update"]


def _wants_aggregated(accept: str) -> bool:
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=APIGroupDiscoveryList" in params and "g=apidiscovery.k8s.io" in params \
                and "v=v2" in params:
            return True
        if part.strip().startswith(("application/json", "*/*")) and not params:
            return False
    return False


def serve(registry: Registry, path: str, accept: str) -> tuple[Any, str] | None:
    """The discovery document at ``path`` with its content type, or None."""
    if path == "/version":
        return SERVER_VERSION, _JSON
    if path == "/":
        return {"paths": _root_paths(registry)}, _JSON
    if path == "/api":
        if _wants_aggregated(accept):
            return _aggregated(registry, core=True), _AGGREGATED
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}, _JSON
    if path == "/api/v1":
        return _resource_list(registry, "", "v1"), _JSON
    if path == "/apis":
        if _wants_aggregated(accept):
            return _aggregated(registry, core=False), _AGGREGATED
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [_group(g, vs) for g, vs in sorted(registry.groups().items())]}, _JSON
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == "apis":
        versions = registry.groups().get(parts[1])
        if versions:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], versions)}, _JSON
        return None
    if len(parts) == 3 and parts[0] == "apis" and registry.in_group_version(parts[1], parts[2]):
        return _resource_list(registry, parts[1], parts[2]), _JSON
    return None


def _root_paths(registry: Registry) -> list[str]:
    paths = {"/api", "/api/v1", "/apis", "/version", "/openapi/v3", "/healthz", "/livez", "/readyz"}
    for g, versions in registry.groups().items():
        paths.add(f"/apis/{g}")
        paths.update(f"/apis/{g}/{v}" for v in versions)
    return sorted(paths)


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _sub_kind(rt: ResourceType, sub: str) -> tuple[str, str, str]:
    if sub == "scale":
        return ("autoscaling", "v1", "Scale")
    return (rt.group, rt.version, rt.kind)


def _resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rt in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
        entry: dict[str, Any] = {
            "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
            "kind": rt.kind, "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in sorted(rt.subresources):
            g, v, k = _sub_kind(rt, sub)
            sub_entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "",
                                         "namespaced": rt.namespaced, "kind": k, "verbs": _SUB_VERBS}
            if sub == "scale":
                sub_entry["group"], sub_entry["version"] = g, v
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def _aggregated(registry: Registry, core: bool) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    groups = {"": ["v1"]} if core else registry.groups()
    for group, versions in sorted(groups.items()):
        vitems = []
        for version in versions:
            resources = []
            for rt in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
                entry: dict[str, Any] = {
                    "resource": rt.plural,
                    "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular, "verbs": list(rt.verbs),
                }
                if rt.short_names:
                    entry["shortNames"] = list(rt.short_names)
                if rt.categories:
                    entry["categories"] = list(rt.categories)
                subs = []
                for sub in sorted(rt.subresources):
                    g, v, k = _sub_kind(rt, sub)
                    subs.append({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": k},
                                 "verbs": _SUB_VERBS})
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            vitems.append({"version": version, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": vitems})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}
