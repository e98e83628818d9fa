"""API errors as the real API server words them, rendered as ``Status`` objects.

Clients key on ``code`` and ``reason`` (kopf retries a 409, treats a 422 on its finalizer
patch as "someone else changed it"); people read ``message``. The messages follow the
API server's wording so that a test sees what ``kubectl`` would print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .resources import ResourceType

#: How each field error kind starts its message (``field.ErrorType`` strings).
_LABELS = {
    "FieldValueInvalid": "Invalid value",
    "FieldValueRequired": "Required value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTypeInvalid": "Invalid value",
}


@dataclass
class FieldError:
    """One ``field.Error``: ``spec.priority: Invalid value: 12: ...``."""

    field: str
    kind: str  # FieldValueInvalid, FieldValueRequired, FieldValueNotSupported, ...
    detail: str
    value: Any = None
    has_value: bool = True

    def body(self) -> str:
        label = _LABELS.get(self.kind, "Invalid value")
        if self.kind in ("FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong") \
                or not self.has_value:
            return f"{label}: {self.detail}" if self.detail else label
        shown = render_value(self.value)
        return f"{label}: {shown}: {self.detail}" if self.detail else f"{label}: {shown}"

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()


def render_value(value: Any) -> str:
    """How Go's ``%#v``-ish printing of a field value looks in API messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return repr(value)


@dataclass
class ApiError(Exception):
    """An error the API returns: HTTP code, reason and a message."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out


def details(rt: ResourceType | None, name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if rt is not None:
        if rt.group:
            out["group"] = rt.group
        out["kind"] = rt.plural
    return out


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', details(rt, name))


def no_resource(path: str) -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}
                    if path else {})


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists',
                    details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        details(rt, name))


def invalid(rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    summary = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    info = details(rt, name)
    info["kind"] = rt.kind
    info["causes"] = [{"reason": e.kind, "message": e.body(), "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{rt.kind_qualified} "{name}" is invalid: {summary}', info)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(rt: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{rt.qualified} "{name}" is forbidden: {why}',
                    details(rt, name))


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types '
                    f'include: application/json, application/yaml (got "{content_type}")')


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
