"""Decoding checks for built-in kinds, from Kubernetes' own schemas (kubernetes-validate).

A real API server decodes a built-in object into Go structs: a field the struct lacks is
an unknown field (refused with ``fieldValidation=Strict`` — Helm 4 and kubectl send it —,
otherwise dropped, with a ``Warning`` header under the default ``Warn``), and a value of
the wrong JSON type cannot be decoded at all (400). The strict JSON schemas that
kubernetes-validate ships for the server's version (``additionalProperties: false``
everywhere) tell us both. Required fields missing are a 422 as the server's validation
would say. The server's other Go validation rules (selector matches template labels,
port ranges, DNS names of containers...) are not reproduced.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import referencing

from . import errors
from .errors import FieldError
from .resources import ResourceType
from .schema import fmt_path

#: The kubernetes-validate schema set matching discovery.SERVER_VERSION.
SCHEMA_DIR = "v1.36.0-local-strict"


def _files() -> Any:
    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", SCHEMA_DIR)


@lru_cache(maxsize=1)
def _registry() -> referencing.Registry[Any]:
    definitions = json.loads(_files().joinpath("_definitions.json").read_text())
    return referencing.Resource.from_contents(definitions) @ referencing.Registry()


@lru_cache(maxsize=128)
def _validator(group: str, version: str, kind: str) -> Any | None:
    prefix = group.split(".")[0] + "-" if group else ""
    path = _files().joinpath(f"{kind.lower()}-{prefix}{version}.json")
    try:
        schema = json.loads(path.read_text())
    except (FileNotFoundError, OSError):
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def available() -> bool:
    try:
        return _files().joinpath("_definitions.json").is_file()
    except (ModuleNotFoundError, FileNotFoundError):
        return False


def _go_type(schema: Any) -> str:
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "")
    return {"integer": "int64", "string": "string", "boolean": "bool", "number": "float64",
            "object": "map[string]interface {}", "array": "[]interface {}"}.get(str(t), str(t))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def _remove(obj: Any, parts: list[Any]) -> None:
    cur = obj
    for p in parts[:-1]:
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)


def check(rt: ResourceType, obj: dict[str, Any], field_validation: str) -> list[str]:
    """Refuse or prune what the Go types would not take; returns the warnings."""
    validator = _validator(rt.group, rt.version, rt.kind) if available() else None
    if validator is None:
        return []
    unknown: list[list[Any]] = []
    required: list[FieldError] = []
    undecodable: list[str] = []
    for e in validator.iter_errors(obj):
        parts = list(e.absolute_path)
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            declared = set((e.schema or {}).get("properties") or {})
            unknown += [[*parts, k] for k in e.instance if k not in declared]
        elif e.validator == "required" and isinstance(e.instance, dict):
            required += [FieldError(fmt_path([*parts, r]), "FieldValueRequired", "")
                         for r in e.validator_value if r not in e.instance]
        elif e.validator == "type":
            undecodable.append(
                f"json: cannot unmarshal {_json_type(e.instance)} into Go struct field "
                f"{rt.kind}.{fmt_path(parts)} of type {_go_type(e.schema)}")
    prefix = f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
    if undecodable:
        raise errors.bad_request(prefix + undecodable[0])
    paths = sorted(fmt_path(p) for p in unknown)
    if paths and field_validation == "Strict":
        raise errors.bad_request(prefix + "strict decoding error: " +
                                 ", ".join(f'unknown field "{p}"' for p in paths))
    for p in unknown:
        _remove(obj, p)
    if required:
        raise errors.invalid(rt, (obj.get("metadata") or {}).get("name", ""), required)
    return [f'unknown field "{p}"' for p in paths] if field_validation == "Warn" else []
