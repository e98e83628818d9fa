"""``/openapi/v3``: enough for kubectl to trust the server with field validation.

kubectl sends ``fieldValidation=Strict`` (and skips its own client-side validation) only
when the group/version's OpenAPI v3 document has a PATCH path for the kind, tagged with
``x-kubernetes-group-version-kind``, that takes a ``fieldValidation`` parameter; for a
kind it cannot find it falls back to what the Namespace path says. So every served kind
gets its paths here, and custom kinds also publish their CRD schema under
``components.schemas`` (``kubectl explain`` reads it). Built-in kinds publish no schema,
so kubectl computes strategic merge patches from its compiled-in types, as with a real
server. ``/openapi/v2`` is not served (404), which kubectl tolerates.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .discovery import SERVER_VERSION
from .resources import Registry, ResourceType

_QUERY = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
     "description": "fieldValidation instructs the server on how to handle objects in the "
                    "request containing unknown or duplicate fields: Ignore, Warn or Strict."},
]
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def group_doc(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        root = f"/{_gv_key(group, version)}"
        prefix = f"{root}/namespaces/{{namespace}}" if rt.namespaced else root

        def op(action: str, op_id: str, rt: ResourceType = rt, gvk: dict[str, str] = gvk) -> dict[str, Any]:
            return {"operationId": f"{op_id}{rt.kind}", "parameters": copy.deepcopy(_QUERY),
                    "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                    "responses": {"200": {"description": "OK", "content": {"application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_schema_name(rt)}"}}}}}}

        paths[f"{prefix}/{rt.plural}"] = {
            "get": op("list", "list"), "post": op("post", "create"),
            "parameters": copy.deepcopy(_QUERY),
        }
        paths[f"{prefix}/{rt.plural}/{{name}}"] = {
            "get": op("get", "read"), "put": op("put", "replace"), "patch": op("patch", "patch"),
            "delete": op("delete", "delete"), "parameters": copy.deepcopy(_QUERY),
        }
        for sub in sorted(rt.subresources):
            paths[f"{prefix}/{rt.plural}/{{name}}/{sub}"] = {
                "get": op("get", f"read{sub.title()}"), "put": op("put", f"replace{sub.title()}"),
                "patch": op("patch", f"patch{sub.title()}"), "parameters": copy.deepcopy(_QUERY),
            }
        if rt.schema is not None:
            sch = copy.deepcopy(rt.schema)
            props = sch.setdefault("properties", {})
            props["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{_OBJECT_META}"}]}
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            sch["x-kubernetes-group-version-kind"] = [gvk]
            schemas[_schema_name(rt)] = sch
        else:
            schemas[_schema_name(rt)] = {"type": "object", "x-kubernetes-group-version-kind": [gvk]}
    schemas[_OBJECT_META] = {"type": "object", "properties": {
        k: {"type": "string"} for k in ("name", "generateName", "namespace", "uid",
                                         "resourceVersion", "creationTimestamp")}}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


def _hash(doc: Any) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def serve(registry: Registry, path: str) -> Any | None:
    if path == "/openapi/v3":
        out: dict[str, Any] = {}
        gvs = {("", "v1")} | {(g, v) for g, vs in registry.groups().items() for v in vs}
        for group, version in sorted(gvs):
            doc = group_doc(registry, group, version)
            key = _gv_key(group, version)
            out[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(doc)}"}
        return {"paths": out}
    parts = [p for p in path.split("/") if p]
    if len(parts) == 4 and parts[:3] == ["openapi", "v3", "api"]:
        return group_doc(registry, "", parts[3])
    if len(parts) == 5 and parts[:3] == ["openapi", "v3", "apis"]:
        return group_doc(registry, parts[3], parts[4])
    return None
