"""Task lookup as the operator reads it: :class:`TaskInfo`, decoded from what a transport
knows of a task id (:class:`~celeriac.backends.base.TaskTrace`).

Why it exists: ``AsyncResult.state`` says PENDING for every task without a record, as
Celery does; a controller needs to tell "never seen", "queued", "record expired" and
"recorded" apart, for many ids in one round trip, with the result decoded into plain
JSON-able values. What it must not do: I/O (``Celeriac.lookup_tasks`` fetches the traces).

Presence (docs/guarantees.md, "Enqueue once and task lookup"):

- ``recorded``: a result record is kept (any state: STARTED, RETRY, custom, ready...).
- ``queued``: no record, but the task was enqueued and has not finished: its enqueue-once
  marker (``app.enqueue_once``) or its publish-once guard (``apply_async(task_id=...)``)
  is there. It may be waiting, delayed, prefetched, or running without a STARTED record.
- ``expired``: no record, but its enqueue-once marker says a ready result was recorded:
  the record expired (``result_expires``) or was forgotten. The marker outlives the record
  by another ``result_expires``.
- ``unknown``: nothing: never enqueued once (or its marker expired too), or published
  without ``enqueue_once`` and not recorded (yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celeriac import serialization, states
from celeriac.backends.base import FINISHED, QUEUED, ResultRecord, TaskTrace

RECORDED, EXPIRED, UNKNOWN = "recorded", "expired", "unknown"  #: presences (with "queued")


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What is known of one task id (``app.lookup_tasks``)."""

    task_id: str
    presence: str
    """``"recorded"``, ``"queued"``, ``"expired"`` or ``"unknown"`` (module doc)."""
    state: str = states.PENDING
    """The recorded state; PENDING when there is no record (as ``AsyncResult.state``)."""
    result: Any = None
    """The decoded return value, or a custom state's meta; None for failures (see error_*)
    and when the payload's content type is not accepted."""
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    worker: str | None = None
    queue: str | None = None
    retries: int = 0
    task: str | None = None
    """The task name."""
    enqueued_at: float | None = None
    """Epoch seconds of the enqueue-once publish (None if not enqueued once)."""
    started_at: float | None = None
    finished_at: float | None = None
    runtime_s: float | None = None

    @property
    def ready(self) -> bool:
        return self.state in states.READY_STATES


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def task_info(trace: TaskTrace, accept: frozenset[str]) -> TaskInfo:
    """Decode one trace; payloads of a content type outside ``accept`` are not decoded."""
    record = trace.record
    if record is None:
        presence = QUEUED if trace.mark == QUEUED else EXPIRED if trace.mark == FINISHED else UNKNOWN
        return TaskInfo(task_id=trace.task_id, presence=presence, queue=trace.queue, task=trace.task,
                        enqueued_at=trace.enqueued_at)
    result, error_type, error_message = _decoded(record, accept)
    started = _float(record.extra.get("date_started"))
    finished = record.date_done if record.status in states.READY_STATES else None
    runtime = _float(record.extra.get("runtime"))
    if runtime is None and started is not None and finished is not None:
        runtime = max(0.0, finished - started)
    return TaskInfo(
        task_id=trace.task_id, presence=RECORDED, state=record.status, result=result,
        error_type=error_type, error_message=error_message, traceback=record.traceback,
        worker=record.worker, queue=record.queue or trace.queue, retries=record.retries,
        task=record.task or trace.task, enqueued_at=trace.enqueued_at, started_at=started,
        finished_at=finished, runtime_s=runtime,
    )


def _decoded(record: ResultRecord, accept: frozenset[str]) -> tuple[Any, str | None, str | None]:
    """``(result, error type, error message)`` of a record."""
    if record.result is None:
        return None, None, None
    try:
        value = serialization.loads(record.result, record.content_type, accept, typed=False)  # JSON-able
    except Exception as exc:  # not accepted or undecodable: say so, never raise from a lookup
        return None, None, f"result not decoded: {exc}" if record.status in states.EXCEPTION_STATES else None
    if record.status in states.EXCEPTION_STATES and isinstance(value, Mapping) and "exc_type" in value:
        message = value.get("exc_message", [])
        if isinstance(message, list | tuple):
            text = " ".join(str(m) for m in message)
        else:
            text = str(message)
        return None, str(value.get("exc_type")), text
    return value, None, None
