"""Field ownership for server-side apply: who set each field, and apply conflicts.

Every write records its field manager (``?fieldManager=``, else the User-Agent's product
name, as the server does) as the owner of the leaf fields it changed; an apply owns every
field of its configuration. An apply without ``force=true`` that would change a field
another manager owns is refused with 409 ``Apply failed with 1 conflict: conflict with
"kubectl-edit" using apps/v1: .spec.replicas`` (what Helm 4, which applies with
``force=false``, would hit after someone scaled its Deployment by hand). ``managedFields``
is rendered from the owners. Simplified: lists of maps merge by the usual key (as in
``patching``), other lists are atomic; metadata other than labels, annotations,
finalizers and ownerReferences is not tracked; status is tracked like any field.
"""

from __future__ import annotations

import json
from typing import Any

from .patching import _merge_key

Path = tuple[str, ...]
Owner = tuple[str, str]  # (manager, operation)
_META_TRACKED = ("labels", "annotations", "finalizers", "ownerReferences")
_MISSING = object()


def leaves(obj: Any, prefix: Path = (), field: str | None = None) -> dict[Path, Any]:
    """Leaf fields of an object (or an apply configuration) with their values."""
    out: dict[Path, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not prefix and key in ("apiVersion", "kind"):
                continue
            if prefix == ("metadata",) and key not in _META_TRACKED:
                continue
            if not prefix and key == "metadata" and not isinstance(value, dict):
                continue
            out.update(leaves(value, (*prefix, key), key))
        if not obj and prefix:
            out[prefix] = {}
    elif isinstance(obj, list) and field is not None:
        key = "uid" if field == "ownerReferences" else _merge_key(field, obj)
        if key and all(isinstance(x, dict) for x in obj) and obj:
            for item in obj:
                out.update(leaves(item, (*prefix, f"k:{json.dumps({key: item.get(key)}, separators=(',', ':'))}"), None))
        elif field == "finalizers":
            for item in obj:
                out[(*prefix, f"v:{json.dumps(item)}")] = item
        else:
            out[prefix] = obj
    else:
        out[prefix] = obj
    return out


def _show(path: Path) -> str:
    shown = ""
    for part in path:
        if part.startswith("k:"):
            shown += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(part[2:]).items()) + "]"
        elif part.startswith("v:"):
            shown += f"[{part[2:]}]"
        else:
            shown += "." + part
    return shown


def conflicts(owners: dict[Path, Owner], live: Any, applied: Any, manager: str) -> list[tuple[str, str]]:
    """(field, other manager) for each field the apply would take from someone else."""
    live_leaves = leaves(live)
    out = []
    for path, value in leaves(applied).items():
        owner = owners.get(path)
        if owner and owner[0] != manager and live_leaves.get(path, _MISSING) != value:
            out.append((_show(path), owner[0]))
    return out


def conflict_message(found: list[tuple[str, str]], api_version: str) -> str:
    managers = sorted({m for _, m in found})
    if len(found) == 1:
        return (f'Apply failed with 1 conflict: conflict with "{found[0][1]}" using {api_version}: '
                f"{found[0][0]}")
    lines = [f"Apply failed with {len(found)} conflicts:"]
    for m in managers:
        lines.append(f'conflicts with "{m}" using {api_version}:')
        lines += [f"- {f}" for f, mm in found if mm == m]
    return "\n".join(lines)


def record_update(owners: dict[Path, Owner], old: Any, new: Any, manager: str) -> None:
    """An update: the manager owns what it changed; fields that went have no owner."""
    old_leaves, new_leaves = leaves(old), leaves(new)
    for path in [p for p in owners if p not in new_leaves]:
        del owners[path]
    for path, value in new_leaves.items():
        if old_leaves.get(path, _MISSING) != value or path not in owners:
            owners[path] = (manager, "Update")


def record_apply(owners: dict[Path, Owner], applied: Any, manager: str, live: Any) -> None:
    """An apply: the manager owns its whole configuration and nothing it dropped."""
    live_leaves = leaves(live)
    for path in [p for p, o in owners.items() if o[0] == manager or p not in live_leaves]:
        del owners[path]
    for path in leaves(applied):
        if path in live_leaves:
            owners[path] = (manager, "Apply")


def managed_fields(owners: dict[Path, Owner], api_version: str, stamps: dict[Owner, str]) -> list[dict[str, Any]]:
    """``metadata.managedFields`` for these owners, one entry per (manager, operation)."""
    sets: dict[Owner, dict[str, Any]] = {}
    for path, owner in sorted(owners.items()):
        node = sets.setdefault(owner, {})
        for part in path:
            key = part if part.startswith(("k:", "v:")) else f"f:{part}"
            node = node.setdefault(key, {})
    return [{"manager": m, "operation": op, "apiVersion": api_version, "time": stamps.get((m, op), ""),
             "fieldsType": "FieldsV1", "fieldsV1": fields} for (m, op), fields in sets.items()]
