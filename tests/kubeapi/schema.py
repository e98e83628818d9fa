"""CRD schemas the way the API server applies them: structural check, prune, default,
validate (``jsonschema``), then CEL rules (``cel-python``), with the server's messages.

Order on every create/update of a custom resource, as in apiextensions-apiserver:
unknown fields are found (``fieldValidation=Strict`` refuses them with a 400 "strict
decoding error", ``Warn`` reports them in a ``Warning`` header, both prune them), nulls
in non-nullable fields are dropped, defaults are filled in, the OpenAPI v3 schema is
checked (``Draft4Validator``: OpenAPI 3.0's ``exclusiveMaximum`` is a boolean, as in
draft 4), then ``x-kubernetes-validations`` run with ``self`` (and ``oldSelf`` for
transition rules on updates). Errors name the field: ``spec.priority: Invalid value: 12:
spec.priority in body should be less than or equal to 9``.

Validation ratcheting is done for CEL rules only (an unchanged subtree is not evaluated
again); an unchanged value that fails the OpenAPI schema is still refused. Not done: CEL
cost limits, the Kubernetes CEL library beyond what cel-python has (``quantity``,
``url``, ``ip``...), conversion webhooks between versions.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import re
import uuid
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import celpy
import jsonschema

from . import errors
from .errors import FieldError
from .resources import ResourceType

Obj = dict[str, Any]

#: ObjectMeta fields a custom resource keeps (everything else under metadata is pruned).
OBJECT_META = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
}
_FORBIDDEN_KEYWORDS = ("$ref", "definitions", "dependencies", "patternProperties",
                       "additionalItems", "id", "$schema")


# ---- formats ------------------------------------------------------------------------

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value):
        return False
    datetime.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    return True


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.date.fromisoformat(value)
    return True


@_formats.checks("byte", raises=(binascii.Error, ValueError))
def _is_byte(value: object) -> bool:
    if isinstance(value, str):
        base64.b64decode(value, validate=True)
    return True


@_formats.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


@_formats.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_formats.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


# ---- paths --------------------------------------------------------------------------

def fmt_path(parts: Any) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


# ---- pruning and defaulting ---------------------------------------------------------

def _preserves(node: Obj) -> bool:
    return bool(node.get("x-kubernetes-preserve-unknown-fields"))


def prune(node: Obj, value: Any, path: list[Any], unknown: list[str], root: bool = False) -> Any:
    """Drop fields the schema does not declare; record their paths in ``unknown``."""
    if isinstance(value, dict):
        props: dict[str, Obj] = node.get("properties") or {}
        addl = node.get("additionalProperties")
        embedded = root or bool(node.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            sub = props.get(key)
            if embedded and key in ("apiVersion", "kind"):
                continue
            if embedded and key == "metadata":
                meta = value[key]
                if isinstance(meta, dict):
                    for mk in list(meta):
                        if mk not in OBJECT_META:
                            unknown.append(fmt_path([*path, "metadata", mk]))
                            del meta[mk]
                continue
            if sub is not None:
                if value[key] is None and not sub.get("nullable"):
                    del value[key]
                    continue
                value[key] = prune(sub, value[key], [*path, key], unknown)
            elif isinstance(addl, dict):
                value[key] = prune(addl, value[key], [*path, key], unknown)
            elif addl is True or _preserves(node):
                continue
            else:
                unknown.append(fmt_path([*path, key]))
                del value[key]
    elif isinstance(value, list):
        items = node.get("items")
        if isinstance(items, dict):
            return [prune(items, v, [*path, i], unknown) for i, v in enumerate(value)]
    return value


def default(node: Obj, value: Any) -> Any:
    """Fill in ``default`` values, top-down, into what is present (in place)."""
    if isinstance(value, dict):
        props: dict[str, Obj] = node.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            if key in props:
                default(props[key], item)
            elif isinstance(node.get("additionalProperties"), dict):
                default(node["additionalProperties"], item)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            default(node["items"], item)
    return value


def apply_defaults(root_schema: Obj, obj: Obj) -> None:
    """Defaulting on read (objects stored before a default was added get it too)."""
    default({k: v for k, v in root_schema.items()}, obj)


# ---- validation (jsonschema) --------------------------------------------------------

def to_jsonschema(node: Any) -> Any:
    """An OpenAPI v3 (Kubernetes flavour) schema as a draft-4 JSON schema."""
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key in ("properties",):
            out[key] = {k: to_jsonschema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_jsonschema(value) if isinstance(value, dict) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_jsonschema(v) for v in value]
        elif key in ("type", "enum", "required", "maximum", "minimum", "exclusiveMaximum",
                     "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
                     "minItems", "uniqueItems", "maxProperties", "minProperties", "format",
                     "multipleOf"):
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("allOf", []).append({"type": ["integer", "string"]})
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _type_name(node: Obj, value: Any) -> str:
    t = node.get("type")
    if isinstance(t, str):
        return t
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


def _schema_errors(node: Obj, value: Any, base: list[Any]) -> list[FieldError]:
    validator = jsonschema.Draft4Validator(_compiled(id(node), node), format_checker=_formats)
    out: list[FieldError] = []
    for e in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        out.extend(_field_errors(e, base))
    return out


_COMPILED: dict[int, tuple[Obj, Any]] = {}


def _compiled(key: int, node: Obj) -> Any:
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not node:
        hit = (node, to_jsonschema(node))
        _COMPILED[key] = hit
    return hit[1]


def _field_errors(e: jsonschema.ValidationError, base: list[Any]) -> Iterator[FieldError]:
    parts = [*base, *e.absolute_path]
    path = fmt_path(parts)
    v, val, inst, sch = e.validator, e.validator_value, e.instance, e.schema
    shown = path or "<root>"
    if v == "required":
        for prop in val:
            if not isinstance(inst, dict) or prop not in inst:
                yield FieldError(fmt_path([*parts, prop]), "FieldValueRequired", "")
        return
    if v == "type":
        want = val if isinstance(val, str) else next((t for t in val if t != "null"), "")
        if isinstance(sch, dict) and sch.get("x-kubernetes-int-or-string"):
            want = "integer,string"
        yield FieldError(path, "FieldValueTypeInvalid",
                         f"{shown} in body must be of type {want}: {errors.render_value(_typeof(inst))}",
                         _typeof(inst))
        return
    if v == "allOf" and isinstance(sch, dict) and "allOf" in sch and any(
            s == {"type": ["integer", "string"]} for s in sch["allOf"]):
        yield FieldError(path, "FieldValueTypeInvalid",
                         f"{shown} in body must be of type integer,string: {errors.render_value(_typeof(inst))}",
                         _typeof(inst))
        return
    if v == "enum":
        supported = ", ".join(errors.render_value(x) for x in val)
        yield FieldError(path, "FieldValueNotSupported", f"supported values: {supported}", inst)
        return
    if v == "maximum":
        op = "less than" if sch.get("exclusiveMaximum") else "less than or equal to"
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should be {op} {val}", inst)
        return
    if v == "minimum":
        op = "greater than" if sch.get("exclusiveMinimum") else "greater than or equal to"
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should be {op} {val}", inst)
        return
    if v == "maxLength":
        yield FieldError(path, "FieldValueTooLong", f"may not be more than {val} bytes", inst)
        return
    if v == "minLength":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should be at least {val} chars long", inst)
        return
    if v == "pattern":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should match '{val}'", inst)
        return
    if v in ("maxItems", "maxProperties"):
        yield FieldError(path, "FieldValueTooMany", f"must have at most {val} items", len(inst))
        return
    if v == "minItems":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should have at least {val} items", len(inst))
        return
    if v == "minProperties":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should have at least {val} properties", len(inst))
        return
    if v == "uniqueItems":
        seen: list[Any] = []
        for i, item in enumerate(inst):
            if item in seen:
                yield FieldError(fmt_path([*parts, i]), "FieldValueDuplicate", "", item)
            seen.append(item)
        return
    if v == "format":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body must be of type {val}: "
                         f"{errors.render_value(inst)}", inst)
        return
    if v == "multipleOf":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should be a multiple of {val}", inst)
        return
    if v == "oneOf":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body must match exactly one schema in oneOf",
                         _typeof_value(inst))
        return
    if v == "anyOf":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body must match at least one schema in anyOf",
                         _typeof_value(inst))
        return
    if v == "not":
        yield FieldError(path, "FieldValueInvalid", f"{shown} in body should not match the schema in not",
                         _typeof_value(inst))
        return
    yield FieldError(path, "FieldValueInvalid", e.message, _typeof_value(inst))


def _typeof(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def _typeof_value(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else _typeof(value)


# ---- CEL (x-kubernetes-validations) -------------------------------------------------

_CEL_ENV = celpy.Environment()


@lru_cache(maxsize=2048)
def _cel_program(rule: str) -> Any:
    return _CEL_ENV.program(_CEL_ENV.compile(rule))


def cel_compile_error(rule: str) -> str | None:
    try:
        _cel_program(rule)
    except Exception as e:  # celpy raises several parse error types
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


_REASONS = {"FieldValueForbidden": "FieldValueForbidden", "FieldValueRequired": "FieldValueRequired",
            "FieldValueDuplicate": "FieldValueDuplicate", "FieldValueInvalid": "FieldValueInvalid"}


def _cel_errors(node: Obj, value: Any, old: Any, has_old: bool, parts: list[Any]) -> list[FieldError]:
    out: list[FieldError] = []
    if value is None:
        return out
    for rule in node.get("x-kubernetes-validations") or []:
        text = rule.get("rule", "")
        transition = bool(re.search(r"\boldSelf\b", text)) and not rule.get("optionalOldSelf")
        if transition and not has_old:
            continue
        activation: Obj = {"self": celpy.json_to_cel(_cel_view(value))}
        if re.search(r"\boldSelf\b", text):
            activation["oldSelf"] = celpy.json_to_cel(_cel_view(old)) if has_old else None
        fpath = list(parts)
        if rule.get("fieldPath"):
            fpath += [p for p in re.split(r"[.\[\]']+", rule["fieldPath"]) if p]
        kind = _REASONS.get(rule.get("reason", "FieldValueInvalid"), "FieldValueInvalid")
        try:
            result = _cel_program(text).evaluate(activation)
        except Exception as e:
            out.append(FieldError(fmt_path(fpath), "FieldValueInvalid",
                                  f"{_short(e)} evaluating rule: {text}", _type_name(node, value)))
            continue
        if isinstance(result, Exception):
            out.append(FieldError(fmt_path(fpath), "FieldValueInvalid",
                                  f"{_short(result)} evaluating rule: {text}", _type_name(node, value)))
            continue
        if bool(result):
            continue
        message = rule.get("message")
        if not message and rule.get("messageExpression"):
            try:
                message = str(_cel_program(rule["messageExpression"]).evaluate(activation))
            except Exception:
                message = None
        message = message or f"failed rule: {text}"
        if kind in ("FieldValueForbidden", "FieldValueRequired"):
            out.append(FieldError(fmt_path(fpath), kind, message))
        else:
            out.append(FieldError(fmt_path(fpath), kind, message, _type_name(node, value)))
    return out


def _short(e: BaseException) -> str:
    if e.args and isinstance(e.args[0], str):
        return e.args[0]
    return str(e) or type(e).__name__


def _cel_view(value: Any) -> Any:
    """What CEL sees: metadata reduced to name and generateName, as the server does."""
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict) and "apiVersion" in value:
        meta = {k: v for k, v in value["metadata"].items() if k in ("name", "generateName")}
        return {**value, "metadata": meta}
    return value


def cel_validate(node: Obj, value: Any, old: Any, has_old: bool, parts: list[Any]) -> list[FieldError]:
    """Every rule in the tree that has a value, with ``oldSelf`` correlated by field name
    (and by key for ``x-kubernetes-list-type: map`` lists). A subtree an update leaves
    unchanged is not evaluated again (validation ratcheting, GA in Kubernetes 1.33): so a
    status write does not re-run the spec's rules."""
    if has_old and value == old:
        return []
    out = _cel_errors(node, value, old, has_old, parts)
    if isinstance(value, dict):
        props: dict[str, Obj] = node.get("properties") or {}
        addl = node.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key) or (addl if isinstance(addl, dict) else None)
            if sub is None or (not parts and key == "metadata"):
                continue
            old_has = has_old and isinstance(old, dict) and key in old
            out += cel_validate(sub, item, old[key] if old_has else None, old_has, [*parts, key])
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        keys = node.get("x-kubernetes-list-map-keys") if node.get("x-kubernetes-list-type") == "map" else None
        for i, item in enumerate(value):
            old_item, old_has = None, False
            if keys and has_old and isinstance(old, list) and isinstance(item, dict):
                for o in old:
                    if isinstance(o, dict) and all(o.get(k) == item.get(k) for k in keys):
                        old_item, old_has = o, True
                        break
            elif has_old and node.get("x-kubernetes-list-type") == "set":
                pass
            out += cel_validate(node["items"], item, old_item, old_has, [*parts, i])
    return out


# ---- admission of custom resources --------------------------------------------------

_BODY_SCHEMAS: dict[int, tuple[Obj, Obj]] = {}


def _body_schema(root: Obj) -> Obj:
    """The root schema without apiVersion/kind/metadata (ObjectMeta is checked apart),
    made once per schema."""
    hit = _BODY_SCHEMAS.get(id(root))
    if hit is not None and hit[0] is root:
        return hit[1]
    skip = ("apiVersion", "kind", "metadata")
    node = {k: v for k, v in root.items() if k not in ("properties", "required")}
    node["properties"] = {k: v for k, v in (root.get("properties") or {}).items() if k not in skip}
    required = [r for r in root.get("required") or [] if r not in skip]
    if required:
        node["required"] = required
    _BODY_SCHEMAS[id(root)] = (root, node)
    return node


def admit(rt: ResourceType, obj: Obj, old: Obj | None, field_validation: str) -> tuple[Obj, list[str]]:
    """Prune, default, validate one custom resource; returns it and the warnings."""
    assert rt.schema is not None
    root = rt.schema
    name = (obj.get("metadata") or {}).get("name", "")
    unknown: list[str] = []
    obj = prune(root, obj, [], unknown, root=True)
    warnings: list[str] = []
    if unknown and field_validation == "Strict":
        listed = ", ".join(f'unknown field "{u}"' for u in unknown)
        raise errors.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
            f"strict decoding error: {listed}")
    if field_validation == "Warn":
        warnings = [f'unknown field "{u}"' for u in unknown]
    default(root, obj)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    errs = _schema_errors(_body_schema(root), body, [])
    if not errs:
        errs = cel_validate(root, obj, old, old is not None, [])
    if errs:
        raise errors.invalid(rt, name, errs)
    return obj, warnings


# ---- CustomResourceDefinition checks -------------------------------------------------

def check_crd(rt: ResourceType, crd: Obj, old: Obj | None, registry: Any) -> None:
    """Refuse a CRD the real server would refuse: names, versions, non-structural schemas."""
    name = crd["metadata"].get("name", "")
    spec = crd.get("spec")
    errs: list[FieldError] = []
    if not isinstance(spec, dict):
        raise errors.invalid(rt, name, [FieldError("spec", "FieldValueRequired", "")])
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural = names.get("plural") or ""
    if not group:
        errs.append(FieldError("spec.group", "FieldValueRequired", ""))
    elif "." not in group:
        errs.append(FieldError("spec.group", "FieldValueInvalid", "should be a domain with at least one dot", group))
    if not plural:
        errs.append(FieldError("spec.names.plural", "FieldValueRequired", ""))
    if not names.get("kind"):
        errs.append(FieldError("spec.names.kind", "FieldValueRequired", ""))
    if plural and group and name != f"{plural}.{group}":
        errs.append(FieldError("metadata.name", "FieldValueInvalid",
                               'must be spec.names.plural+"."+spec.group', name))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(FieldError("spec.scope", "FieldValueNotSupported",
                               'supported values: "Cluster", "Namespaced"', spec.get("scope")))
    versions = spec.get("versions") or []
    if not versions:
        errs.append(FieldError("spec.versions", "FieldValueInvalid", "must have exactly one version marked as storage version", versions))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(FieldError("spec.versions", "FieldValueInvalid",
                               "must have exactly one version marked as storage version", "array"))
    if old is not None:
        ospec = old.get("spec") or {}
        for f in ("group", "scope"):
            if ospec.get(f) != spec.get(f):
                errs.append(FieldError(f"spec.{f}", "FieldValueInvalid", "field is immutable", spec.get(f)))
    for i, version in enumerate(versions):
        base = f"spec.versions[{i}]"
        sch = (version.get("schema") or {}).get("openAPIV3Schema")
        if sch is None:
            errs.append(FieldError(f"{base}.schema.openAPIV3Schema", "FieldValueRequired",
                                   "schemas are required"))
            continue
        if sch.get("type") != "object":
            errs.append(FieldError(f"{base}.schema.openAPIV3Schema.type", "FieldValueRequired"
                                   if not sch.get("type") else "FieldValueInvalid",
                                   "must be object at the root" if sch.get("type") else
                                   "must not be empty at the root", sch.get("type")))
        errs += _structural(sch, f"{base}.schema.openAPIV3Schema", root=True)
        for j, col in enumerate(version.get("additionalPrinterColumns") or []):
            for f in ("name", "type", "jsonPath"):
                if not col.get(f):
                    errs.append(FieldError(f"{base}.additionalPrinterColumns[{j}].{f}", "FieldValueRequired", ""))
        sub = version.get("subresources") or {}
        scale = sub.get("scale")
        if isinstance(scale, dict):
            for f in ("specReplicasPath", "statusReplicasPath"):
                if not scale.get(f):
                    errs.append(FieldError(f"{base}.subresources.scale.{f}", "FieldValueRequired", ""))
    if errs:
        raise errors.invalid(rt, name, errs)


def _structural(node: Any, path: str, root: bool = False, under_logic: bool = False) -> list[FieldError]:
    out: list[FieldError] = []
    if not isinstance(node, dict):
        return [FieldError(path, "FieldValueInvalid", "must be an object", _typeof(node))]
    for kw in _FORBIDDEN_KEYWORDS:
        if kw in node:
            out.append(FieldError(f"{path}.{kw}", "FieldValueForbidden", f"{kw} is not supported"))
    special = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if not under_logic and not node.get("type") and not special:
        out.append(FieldError(f"{path}.type", "FieldValueRequired",
                              "must not be empty for specified object fields"))
    if under_logic:
        for kw in ("type", "default", "nullable", "additionalProperties", "description"):
            if kw in node:
                out.append(FieldError(f"{path}.{kw}", "FieldValueForbidden",
                                      "must be empty to be structural"))
    if node.get("type") == "array" and "items" not in node and not under_logic:
        out.append(FieldError(f"{path}.items", "FieldValueRequired", "must be specified"))
    if "properties" in node and isinstance(node.get("additionalProperties"), dict | bool) \
            and node.get("additionalProperties") is not False:
        out.append(FieldError(f"{path}.additionalProperties", "FieldValueForbidden",
                              "additionalProperties and properties are mutual exclusive"))
    for key, sub in (node.get("properties") or {}).items():
        sub_path = f"{path}.properties[{key}]"
        if root and key == "metadata" and isinstance(sub, dict):
            extra = set(sub.get("properties") or {}) - {"name", "generateName"}
            if extra or set(sub) - {"type", "properties", "description"}:
                out.append(FieldError(sub_path, "FieldValueForbidden",
                                      "must not specify anything other than name and generateName, "
                                      "but metadata is implicitly specified"))
            continue
        out += _structural(sub, sub_path, under_logic=under_logic)
    if isinstance(node.get("items"), dict):
        out += _structural(node["items"], f"{path}.items", under_logic=under_logic)
    if isinstance(node.get("additionalProperties"), dict):
        out += _structural(node["additionalProperties"], f"{path}.additionalProperties",
                           under_logic=under_logic)
    for kw in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(node.get(kw) or []):
            out += _structural(sub, f"{path}.{kw}[{i}]", under_logic=True)
    if isinstance(node.get("not"), dict):
        out += _structural(node["not"], f"{path}.not", under_logic=True)
    for i, rule in enumerate(node.get("x-kubernetes-validations") or []):
        err = cel_compile_error(rule.get("rule", ""))
        if err:
            out.append(FieldError(f"{path}.x-kubernetes-validations[{i}].rule", "FieldValueInvalid",
                                  f"compilation failed: {err}", rule.get("rule", "")))
    if "default" in node and not under_logic:
        dflt = copy.deepcopy(node["default"])
        unknown: list[str] = []
        prune(node, dflt, [], unknown)
        if unknown:
            out.append(FieldError(f"{path}.default", "FieldValueInvalid",
                                  f"must not have unknown fields, got: {', '.join(unknown)}", "object"))
        else:
            for e in _schema_errors(node, node["default"], []):
                out.append(FieldError(f"{path}.default{('.' + e.field) if e.field else ''}",
                                      e.kind, e.detail, e.value, e.has_value))
    return out
