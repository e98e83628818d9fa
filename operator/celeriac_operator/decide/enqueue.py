"""What a ``Task`` object enqueues: its task id and its ``enqueue_once`` call.

Why it exists: "exactly once" rests on two facts decided here, purely. The task id is a
function of ``metadata.uid`` alone, so every reconcile of the same object (a restart, a
re-list, a replayed watch event) asks the runtime's ``enqueue_once`` about the same id. And
every relative time (``countdown``, ``expiresSeconds``) is anchored at the object's
``creationTimestamp``, not at the moment the operator got to it, so a Task enqueued late
(the operator was down) still runs when its author asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Annotation naming an already-published task this object mirrors (a Schedule's run):
#: such a Task is never enqueued by the operator, only followed.
TASK_ID_ANNOTATION = "celeriac.dev/task-id"

#: Annotation asking that deleting an unfinished Task also terminates its running call.
TERMINATE_ANNOTATION = "celeriac.dev/terminate-on-delete"

#: Message header naming the object a task was enqueued for (``namespace/name``).
OBJECT_HEADER = "k8s_object"


class InvalidTaskSpec(ValueError):
    """The spec cannot be enqueued (the CRD schema should have refused it)."""


@dataclass(frozen=True)
class EnqueueRequest:
    """The arguments of one ``app.enqueue_once`` call."""

    name: str
    task_id: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def task_id_for(uid: str) -> str:
    """The task id of the object with this ``metadata.uid`` (the uid itself: it is already
    a UUID, unique per object for the cluster's lifetime, and it reads the same in
    ``kubectl get -o yaml`` and in ``celeriac result``).

    Raises:
        InvalidTaskSpec: for an empty uid (an object not yet stored by the API server).
    """
    if not uid:
        raise InvalidTaskSpec("the object has no metadata.uid")
    return uid


def mirrored_task_id(annotations: Mapping[str, str]) -> str | None:
    """The id of an existing task this object only follows (``celeriac.dev/task-id``)."""
    value = annotations.get(TASK_ID_ANNOTATION)
    return value or None


def terminate_on_delete(annotations: Mapping[str, str]) -> bool:
    """Whether deleting the unfinished object should terminate the running call."""
    return annotations.get(TERMINATE_ANNOTATION, "").strip().lower() == "true"


def parse_time(text: str) -> datetime:
    """An RFC 3339 instant (``Z`` or an offset) as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidTaskSpec(f"not an RFC 3339 time: {text!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def enqueue_request(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> EnqueueRequest:
    """The ``enqueue_once`` call for a Task with this ``spec`` and ``metadata``.

    Raises:
        InvalidTaskSpec: naming the field, for a spec the CRD schema should have refused.
    """
    name = spec.get("task")
    if not isinstance(name, str) or not name:
        raise InvalidTaskSpec("spec.task is required")
    args = spec.get("args") or []
    if not isinstance(args, list):
        raise InvalidTaskSpec("spec.args must be an array")
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise InvalidTaskSpec("spec.kwargs must be an object")
    created_text = meta.get("creationTimestamp")
    created = parse_time(created_text) if isinstance(created_text, str) else None
    options: dict[str, Any] = {}
    if spec.get("queue"):
        options["queue"] = str(spec["queue"])
    if spec.get("priority") is not None:
        priority = spec["priority"]
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
            raise InvalidTaskSpec("spec.priority must be an integer from 0 to 9")
        options["priority"] = priority
    if spec.get("countdown") is not None and spec.get("eta") is not None:
        raise InvalidTaskSpec("spec.countdown and spec.eta are mutually exclusive")
    if spec.get("countdown") is not None:
        countdown = _seconds(spec, "countdown")
        if created is None:
            options["countdown"] = countdown
        else:
            options["eta"] = created + timedelta(seconds=countdown)
    elif spec.get("eta") is not None:
        options["eta"] = parse_time(str(spec["eta"]))
    if spec.get("expiresSeconds") is not None:
        expires = _seconds(spec, "expiresSeconds")
        options["expires"] = created + timedelta(seconds=expires) if created is not None else expires
    if spec.get("timeLimitSeconds") is not None:
        options["time_limit"] = _seconds(spec, "timeLimitSeconds")
    if spec.get("softTimeLimitSeconds") is not None:
        options["soft_time_limit"] = _seconds(spec, "softTimeLimitSeconds")
    namespace, obj_name = meta.get("namespace"), meta.get("name")
    if namespace and obj_name:
        options["headers"] = {OBJECT_HEADER: f"{namespace}/{obj_name}"}
    return EnqueueRequest(
        name=name, task_id=task_id_for(str(meta.get("uid") or "")), args=tuple(args),
        kwargs=dict(kwargs), options=options,
    )


def _seconds(spec: Mapping[str, Any], key: str) -> float:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidTaskSpec(f"spec.{key} must be a non-negative number of seconds")
    return float(value)
