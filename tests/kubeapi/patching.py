"""The four PATCH flavours, by ``Content-Type``, applied to a stored object.

- ``application/merge-patch+json``: RFC 7386 (kopf, ``kubectl patch --type merge``, scale).
- ``application/json-patch+json``: RFC 6902 through the ``jsonpatch`` library; a failed
  ``test`` op is a 422 (kopf's finalizer patch relies on it).
- ``application/strategic-merge-patch+json``: what ``kubectl apply`` and Helm send for
  built-in kinds: lists of maps merge by their key (containers by ``name``, ports by
  ``containerPort``/``port``, conditions by ``type``...), with the ``$patch``,
  ``$retainKeys``, ``$setElementOrder`` and ``$deleteFromPrimitiveList`` directives.
  Custom resources refuse it with 415, as the real server does.
- ``application/apply-patch+yaml``: server-side apply, simplified: the applied
  configuration is merged in (associative lists by key) and the fields this field
  manager applied last time but no longer does are removed; conflicts with other
  managers' fields are found by ``ownership``.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import ApiError

#: List fields whose items merge by a key (strategic merge and server-side apply).
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "imagePullSecrets": "name", "conditions": "type",
    "ownerReferences": "uid", "hostAliases": "ip", "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey", "readinessGates": "conditionType",
}
#: Lists of scalars that merge as sets under a strategic merge patch.
MERGE_PRIMITIVE_LISTS = {"finalizers"}

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        for item in items:
            if isinstance(item, dict):
                return "containerPort" if "containerPort" in item else "port"
        return None
    return MERGE_KEYS.get(field)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902; a failed ``test`` or a bad path is 422 Invalid like the real server."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result: dict[str, Any] = jsonpatch.apply_patch(target, ops, in_place=False)
    except (jsonpatch.JsonPatchTestFailed, jsonpatch.JsonPatchConflict, jsonpatch.InvalidJsonPatch,
            jsonpatch.JsonPointerException) as e:
        # What NewGenericServerResponse(422, ...) makes of the patch library's error.
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                       {"causes": [{"reason": "UnexpectedServerResponse", "message": str(e)}]}) from e
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch, field-name driven (close enough for kubectl and Helm)."""
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return copy.deepcopy(body)
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in (value or [])]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            merged = _smp_map(result[key], value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, dict):
            merged = _smp_map({}, value)
            if merged is not None:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith("$setElementOrder/") and isinstance(order, list):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = _reorder(field, result[field], order)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """``$setElementOrder``: the listed elements in that order, the others after them."""
    key = _merge_key(field, order + items)

    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    placed = sorted((x for x in items if ident(x) in wanted), key=lambda x: wanted.index(ident(x)))
    return placed + [x for x in items if ident(x) not in wanted]


def _smp_list(field: str, target: Any, patch: list[Any]) -> list[Any]:
    current = target if isinstance(target, list) else []
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if field in MERGE_PRIMITIVE_LISTS:
        out = list(current)
        for item in patch:
            if item not in out:
                out.append(item)
        return out
    key = _merge_key(field, patch + current)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return copy.deepcopy(patch)
    out = [copy.deepcopy(x) for x in current]
    for item in patch:
        kval = item.get(key)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == kval), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            merged = _smp_map({}, item)
            if merged is not None:
                out.append(merged)
        else:
            merged = _smp_map(out[idx], item)
            if merged is None:
                out.pop(idx)
            else:
                out[idx] = merged
    return out


def apply_merge(live: Any, applied: Any, previous: Any) -> Any:
    """Server-side apply of one manager's configuration onto the live object."""
    if isinstance(applied, dict):
        base = copy.deepcopy(live) if isinstance(live, dict) else {}
        prev = previous if isinstance(previous, dict) else {}
        for key, value in applied.items():
            base[key] = apply_merge(base.get(key), value, prev.get(key), ) if not isinstance(value, list) \
                else _apply_list(key, base.get(key), value, prev.get(key))
        for key in prev:
            if key not in applied:
                base.pop(key, None)
        return base
    return copy.deepcopy(applied)


def _apply_list(field: str, live: Any, applied: list[Any], previous: Any) -> list[Any]:
    key = _merge_key(field, applied)
    current = live if isinstance(live, list) else []
    if key is None or not all(isinstance(x, dict) for x in applied):
        return copy.deepcopy(applied)
    prev = previous if isinstance(previous, list) else []
    applied_keys = [x.get(key) for x in applied]
    prev_keys = {x.get(key) for x in prev if isinstance(x, dict)}
    out: list[Any] = []
    for item in current:
        k = item.get(key) if isinstance(item, dict) else None
        if k in applied_keys:
            old = next((p for p in prev if isinstance(p, dict) and p.get(key) == k), None)
            new = next(a for a in applied if a.get(key) == k)
            out.append(apply_merge(item, new, old))
        elif k not in prev_keys:
            out.append(item)  # owned by another manager
    present = {x.get(key) for x in out if isinstance(x, dict)}
    for item in applied:
        if item.get(key) not in present:
            out.append(copy.deepcopy(item))
    return out
