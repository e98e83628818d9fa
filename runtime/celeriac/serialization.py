"""Serializers by name and content type, and the ``accept_content`` gate.

Four are built in: ``json`` (default), ``msgpack``, ``yaml`` and ``pickle``. Pickle runs
arbitrary code when loaded, so :func:`loads` refuses any content type that is not listed
in ``accept_content`` (pickle is not, by default) with :class:`ContentDisallowed`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import pickle
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgpack
import yaml

from celeriac.errors import ContentDisallowed, DecodeError


@dataclass(frozen=True)
class Serializer:
    name: str
    content_type: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


def _typed(kind: str, value: Any) -> dict[str, Any]:
    return {"__type__": kind, "__value__": value}


def _json_default(obj: Any) -> Any:
    """Types JSON lacks, in kombu's envelope (``{"__type__": ..., "__value__": ...}``), as
    Celery's JSON serializer writes them, so both read each other's messages and results."""
    reducer = getattr(obj, "__json__", None)
    if reducer is not None:
        return reducer()
    if isinstance(obj, dt.datetime):
        return _typed("datetime", obj.isoformat())
    if isinstance(obj, dt.date):
        return _typed("date", obj.isoformat())
    if isinstance(obj, dt.time):
        return _typed("time", obj.isoformat())
    if isinstance(obj, decimal.Decimal):
        return _typed("decimal", str(obj))
    if isinstance(obj, uuid.UUID):
        return _typed("uuid", {"hex": obj.hex})
    if isinstance(obj, bytes | bytearray | memoryview):
        raw = bytes(obj)
        try:
            return _typed("bytes", raw.decode("utf-8"))
        except UnicodeDecodeError:
            return _typed("base64", base64.b64encode(raw).decode("ascii"))
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": decimal.Decimal,
    "uuid": lambda v: uuid.UUID(**v) if isinstance(v, dict) else uuid.UUID(v),
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v.encode("ascii")),
}


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "__type__" in obj and "__value__" in obj:
        decoder = _DECODERS.get(obj["__type__"])
        if decoder is not None:
            return decoder(obj["__value__"])
    return obj


def _json_loads(data: bytes | str) -> Any:
    """JSON, with kombu's typed envelopes turned back into their types. The hook costs a
    Python call per object, so it only runs on payloads that hold an envelope at all."""
    marker = '"__type__"' if isinstance(data, str) else b'"__type__"'
    if marker in data:  # type: ignore[operator]
        return json.loads(data, object_hook=_object_hook)
    return json.loads(data)


def json_plain(data: bytes | str) -> Any:
    """JSON as plain JSON values (envelopes left as dicts): what a JSON-only reader sees."""
    return json.loads(data)


_json_encoder = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False)


def json_text(obj: Any) -> str:
    """``obj`` as the ``json`` serializer writes it, as text (the bulk path's templates)."""
    return _json_encoder.encode(obj)


def _json_dumps(obj: Any) -> bytes:
    return json_text(obj).encode()


def _msgpack_default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID | decimal.Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not msgpack serializable")


def _msgpack_dumps(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True)  # type: ignore[no-any-return]


def _msgpack_loads(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


class _YamlDumper(yaml.SafeDumper):
    """Safe YAML that also writes dict subclasses (signatures) as mappings, tuples as lists."""


_YamlDumper.add_multi_representer(dict, _YamlDumper.represent_dict)
_YamlDumper.add_multi_representer(tuple, lambda dumper, value: dumper.represent_list(list(value)))


def _yaml_dumps(obj: Any) -> bytes:
    return yaml.dump(obj, Dumper=_YamlDumper, allow_unicode=True).encode()


def _yaml_loads(data: bytes) -> Any:
    return yaml.safe_load(data)


def _pickle_dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_loads(data: bytes) -> Any:
    return pickle.loads(data)


JSON = "application/json"  #: the default content type
MSGPACK = "application/x-msgpack"
YAML = "application/x-yaml"
PICKLE = "application/x-python-serialize"

_BY_NAME: dict[str, Serializer] = {
    "json": Serializer("json", JSON, _json_dumps, _json_loads),
    "msgpack": Serializer("msgpack", MSGPACK, _msgpack_dumps, _msgpack_loads),
    "yaml": Serializer("yaml", YAML, _yaml_dumps, _yaml_loads),
    "pickle": Serializer("pickle", PICKLE, _pickle_dumps, _pickle_loads),
}
_BY_CONTENT_TYPE: dict[str, Serializer] = {s.content_type: s for s in _BY_NAME.values()}
# Aliases other producers use for the same formats.
_BY_CONTENT_TYPE.update(
    {
        "application/msgpack": _BY_NAME["msgpack"],
        "application/x-msgpack; charset=binary": _BY_NAME["msgpack"],
        "application/yaml": _BY_NAME["yaml"],
        "text/yaml": _BY_NAME["yaml"],
        "application/python-pickle": _BY_NAME["pickle"],
    }
)


def by_name(name: str) -> Serializer:
    """The serializer called ``name`` (``json``, ``msgpack``, ``yaml``, ``pickle``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown serializer {name!r}; known: {sorted(_BY_NAME)}") from None


def by_content_type(content_type: str) -> Serializer:
    try:
        return _BY_CONTENT_TYPE[content_type]
    except KeyError:
        raise DecodeError(f"unknown content type {content_type!r}") from None


def content_type_of(name_or_type: str) -> str:
    """Map a serializer name or a content type to the content type."""
    if name_or_type in _BY_CONTENT_TYPE:
        return _BY_CONTENT_TYPE[name_or_type].content_type
    return by_name(name_or_type).content_type


def accepted(accept_content: Iterable[str]) -> frozenset[str]:
    """Normalise an ``accept_content`` list (names or content types) to content types."""
    return frozenset(content_type_of(item) for item in accept_content)


def dumps(obj: Any, serializer: str = "json") -> tuple[str, bytes]:
    """Serialize ``obj``; returns ``(content_type, payload)``."""
    s = _BY_NAME.get(serializer) or by_content_type(serializer)
    return s.content_type, s.dumps(obj)


def loads(data: bytes, content_type: str, accept: frozenset[str], *, typed: bool = True) -> Any:
    """Deserialize, refusing content types that are not accepted. ``typed=False`` leaves
    JSON's typed envelopes (datetimes, bytes, ...) as dicts, for readers that need JSON.

    Raises:
        ContentDisallowed: ``content_type`` is not in ``accept``.
        DecodeError: the payload does not parse.
    """
    s = by_content_type(content_type)
    if s.content_type not in accept:
        raise ContentDisallowed(
            f"refusing content type {content_type!r}: not in accept_content {sorted(accept)}"
        )
    try:
        if not typed and s.content_type == JSON:
            return json_plain(data)
        return s.loads(data)
    except Exception as exc:
        raise DecodeError(f"cannot decode {s.name} payload: {exc}") from exc
