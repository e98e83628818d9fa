"""Serializers by name and content type, and the ``accept_content`` gate.

Four are built in: ``json`` (default), ``msgpack``, ``yaml`` and ``pickle``. Pickle runs
arbitrary code when loaded, so :func:`loads` refuses any content type that is not listed
in ``accept_content`` (pickle is not, by default) with :class:`ContentDisallowed`.
"""

from __future__ import annotations

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


def _json_default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID | decimal.Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_json_encoder = json.JSONEncoder(default=_json_default, separators=(",", ":"), ensure_ascii=False)


def json_text(obj: Any) -> str:
    """``obj`` as the ``json`` serializer writes it, as text (the bulk path's templates)."""
    return _json_encoder.encode(obj)


def _json_dumps(obj: Any) -> bytes:
    return json_text(obj).encode()


def _msgpack_default(obj: Any) -> Any:
    return _json_default(obj)


def _msgpack_dumps(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True)  # type: ignore[no-any-return]


def _msgpack_loads(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def _yaml_dumps(obj: Any) -> bytes:
    return yaml.safe_dump(obj, allow_unicode=True).encode()


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
    "json": Serializer("json", JSON, _json_dumps, json.loads),
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


def loads(data: bytes, content_type: str, accept: frozenset[str]) -> Any:
    """Deserialize, refusing content types that are not accepted.

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
        return s.loads(data)
    except Exception as exc:
        raise DecodeError(f"cannot decode {s.name} payload: {exc}") from exc
