"""Decoding of Kubernetes protobuf request bodies, for the few kinds clients send that way.

client-go's typed clients write protobuf and do not fall back to JSON on a 415: Helm
stores its releases as Secrets that way, and ``kubectl create namespace|configmap|secret|
serviceaccount`` send those kinds so. The envelope is ``k8s\\x00`` then a
``runtime.Unknown`` (type meta, raw message); the raw message is decoded here with the
field numbers of ``k8s.io/api/core/v1/generated.proto`` for Namespace, ConfigMap,
Secret, ServiceAccount and DeleteOptions (ObjectMeta included). Any other kind is
answered with a 415, as before. Bytes fields become base64 strings, as in JSON.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

MAGIC = b"k8s\x00"

# (name, type): type is a scalar name, a message name, ("repeated", type) or ("map", value type).
Field = tuple[str, Any]
_META: dict[int, Field] = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
    7: ("generation", "int"), 8: ("creationTimestamp", "Time"), 9: ("deletionTimestamp", "Time"),
    10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("repeated", "OwnerReference")),
    14: ("finalizers", ("repeated", "string")),
}
SCHEMAS: dict[str, dict[int, Field]] = {
    "ObjectMeta": _META,
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                       5: ("apiVersion", "string"), 6: ("controller", "bool"),
                       7: ("blockOwnerDeletion", "bool")},
    "ObjectReference": {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"),
                        4: ("uid", "string"), 5: ("apiVersion", "string"),
                        6: ("resourceVersion", "string"), 7: ("fieldPath", "string")},
    "LocalObjectReference": {1: ("name", "string")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
               4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", ("map", "string")),
                  3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", ("repeated", "string"))},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 2: ("secrets", ("repeated", "ObjectReference")),
                       3: ("imagePullSecrets", ("repeated", "LocalObjectReference")),
                       4: ("automountServiceAccountToken", "bool")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", "Preconditions"),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"),
                      5: ("dryRun", ("repeated", "string"))},
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "raw"), 3: ("contentEncoding", "string"),
                4: ("contentType", "string")},
}
#: Kinds whose protobuf bodies we can read.
DECODABLE = {"Secret", "ConfigMap", "Namespace", "ServiceAccount", "DeleteOptions"}


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ProtobufError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError("truncated field")
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "raw":
        return bytes(value)
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    return decode_message(bytes(value), kind)


def decode_message(buf: bytes, schema: str) -> dict[str, Any]:
    fields = SCHEMAS[schema]
    out: dict[str, Any] = {}
    for num, wire, value in _fields(buf):
        spec = fields.get(num)
        if spec is None:
            continue
        name, kind = spec
        if isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(name, []).append(_scalar(kind[1], wire, value))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _, v in _fields(bytes(value))}
            key = bytes(entry.get(1, b"")).decode("utf-8")
            out.setdefault(name, {})[key] = _scalar(kind[1], 2, entry.get(2, b""))
        else:
            out[name] = _scalar(kind, wire, value)
    if schema == "Time":
        stamp = datetime.datetime.fromtimestamp(out.get("seconds", 0), datetime.UTC)
        return {"rfc3339": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for key, value in list(out.items()):
        if isinstance(value, dict) and set(value) == {"rfc3339"}:
            value = out[key] = value["rfc3339"]
        # Go's protobuf writes unset strings as "", zero times as the epoch: unset in JSON.
        if value == "" or value == "1970-01-01T00:00:00Z" or (key == "generation" and value == 0):
            del out[key]
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as the JSON object it stands for; ProtobufError if we
    cannot read it (not the envelope, or a kind we have no field table for)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf envelope")
    unknown = decode_message(body[len(MAGIC):], "Unknown")
    type_meta = unknown.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in DECODABLE:
        raise ProtobufError(f"cannot decode protobuf for kind {kind!r}")
    obj = decode_message(unknown.get("raw", b""), kind)
    if kind != "DeleteOptions":
        obj = {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
    return obj
