"""A Task object's ``status``, computed from what the runtime reports.

Why it exists: the status of a Task is written from two sources that race each other, the
events stream (fast, partial: an event carries a short repr, not the JSON result) and the
result store's ``lookup_tasks`` (complete, but a snapshot). The rules that make the
combination safe live here, as pure functions: a state never moves back (a late STARTED
never overwrites SUCCESS), the first terminal state wins, conditions keep their
``lastTransitionTime`` while their status holds, and large values are cut so an object
stays far below etcd's size limit. No I/O and no clock: ``now`` is passed in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

#: Largest JSON text of ``result`` / ``progress`` (and largest ``traceback``) kept in status.
MAX_VALUE_BYTES = 4096

#: Longest error message kept in ``status.error.message`` and in Kubernetes Events.
MAX_MESSAGE_CHARS = 1024

PENDING = "PENDING"
STARTED = "STARTED"
RETRY = "RETRY"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"
REJECTED = "REJECTED"

#: States after which nothing changes (the runtime's READY_STATES).
TERMINAL_STATES = frozenset({SUCCESS, FAILURE, REVOKED, REJECTED})

#: ``Finished`` condition reason per terminal state.
FINISHED_REASONS: dict[str, str] = {
    SUCCESS: "Succeeded", FAILURE: "Failed", REVOKED: "Revoked", REJECTED: "Rejected",
}

#: Event types after which the task is finished (the details come from a lookup).
TERMINAL_EVENTS = frozenset({"task-succeeded", "task-failed", "task-revoked", "task-rejected"})


class TaskInfoLike(Protocol):
    """What ``app.lookup_tasks`` returns per id (``celeriac.TaskInfo``), structurally."""

    @property
    def task_id(self) -> str: ...
    @property
    def presence(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def result(self) -> Any: ...
    @property
    def error_type(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def traceback(self) -> str | None: ...
    @property
    def worker(self) -> str | None: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def retries(self) -> int | None: ...
    @property
    def enqueued_at(self) -> float | None: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def finished_at(self) -> float | None: ...
    @property
    def runtime_s(self) -> float | None: ...


@dataclass(frozen=True)
class Observation:
    """One thing learnt about a task, from an event or a lookup (None: not known)."""

    state: str
    at: float
    """When it was true (epoch seconds): the event's timestamp, or the lookup's time."""
    source: str = "event"
    queue: str | None = None
    worker: str | None = None
    enqueued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    runtime_s: float | None = None
    retries: int | None = None
    has_result: bool = False
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    has_progress: bool = False
    progress: Any = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def rank(state: str | None) -> int:
    """0 not started, 1 running (STARTED, RETRY, custom), 2 finished. None ranks -1."""
    if state is None:
        return -1
    if state in TERMINAL_STATES:
        return 2
    if state in (PENDING, "RECEIVED"):
        return 0
    return 1


def accepts(current_state: str | None, current_at: float | None, obs: Observation) -> bool:
    """Whether ``obs`` may change a status now in ``current_state`` (learnt at ``current_at``).

    A state never moves back; the first terminal state wins, and a second observation of
    that same state only adds details (the lookup's result after the event's SUCCESS).
    Within "running", the later observation wins (STARTED, RETRY, PROGRESS, STARTED...).
    """
    old, new = rank(current_state), rank(obs.state)
    if new != old:
        return new > old
    if old == 2:
        return obs.state == current_state
    return current_at is None or obs.at >= current_at


def observation_from_info(info: TaskInfoLike, *, now: float) -> Observation | None:
    """What a lookup says, or None when it says nothing useful (never seen, expired)."""
    if info.presence == "queued":
        return Observation(state=PENDING, at=now, source="lookup", queue=info.queue,
                           enqueued_at=info.enqueued_at)
    if info.presence != "recorded":
        return None
    state = info.state or PENDING
    custom = rank(state) == 1 and state not in (STARTED, RETRY)
    return Observation(
        state=state, at=now, source="lookup", queue=info.queue, worker=info.worker,
        enqueued_at=info.enqueued_at, started_at=info.started_at, finished_at=info.finished_at,
        runtime_s=info.runtime_s, retries=info.retries,
        has_result=state == SUCCESS, result=info.result if state == SUCCESS else None,
        error_type=info.error_type, error_message=info.error_message, traceback=info.traceback,
        has_progress=custom, progress=info.result if custom else None,
    )


def observation_from_event(event: Mapping[str, Any]) -> Observation | None:
    """What one event of the runtime's stream says (None: nothing about a task state)."""
    kind = event.get("type")
    at = _float(event.get("timestamp")) or 0.0
    worker = _str(event.get("hostname"))
    queue = _str(event.get("queue"))
    if kind == "task-sent":
        return Observation(state=PENDING, at=at, queue=queue, enqueued_at=at)
    if kind == "task-received":
        return Observation(state=PENDING, at=at, queue=queue, worker=worker)
    if kind == "task-started":
        started = _float(event.get("started")) or at
        return Observation(state=STARTED, at=at, queue=queue, worker=worker, started_at=started)
    if kind == "task-retried":
        return Observation(state=RETRY, at=at, queue=queue, worker=worker,
                           error_message=_str(event.get("exception")))
    runtime = _float(event.get("runtime"))
    ran_from = at - runtime if runtime is not None else None
    if kind == "task-succeeded":
        return Observation(state=SUCCESS, at=at, queue=queue, worker=worker, started_at=ran_from,
                           finished_at=at, runtime_s=runtime)
    if kind == "task-failed":
        error_type, message = _split_exception(_str(event.get("exception")))
        return Observation(state=FAILURE, at=at, queue=queue, worker=worker, started_at=ran_from,
                           finished_at=at, runtime_s=runtime, error_type=error_type,
                           error_message=message, traceback=_str(event.get("traceback")))
    if kind == "task-revoked":
        return Observation(state=REVOKED, at=at, queue=queue, worker=worker, finished_at=at,
                           error_type="Revoked", error_message=_str(event.get("reason")))
    if kind == "task-rejected":
        return Observation(state=REJECTED, at=at, queue=queue, worker=worker, finished_at=at,
                           error_type="Rejected", error_message=_str(event.get("reason")))
    return None


def task_status(
    current: Mapping[str, Any], obs: Observation, *, task_id: str, generation: int | None, now: float
) -> dict[str, Any]:
    """The whole new ``status`` after ``obs`` (the caller checked ``accepts``)."""
    status: dict[str, Any] = dict(current)
    status["state"] = obs.state
    status["taskId"] = task_id
    if generation is not None:
        status["observedGeneration"] = generation
    if obs.queue:
        status["queue"] = obs.queue
    if obs.worker:
        status["worker"] = obs.worker
    if obs.retries is not None:
        status["retries"] = obs.retries
    elif obs.state == RETRY and current.get("state") != RETRY:
        status["retries"] = int(current.get("retries") or 0) + 1
    for key, value in (("enqueuedAt", obs.enqueued_at), ("startedAt", obs.started_at),
                       ("finishedAt", obs.finished_at)):
        if value is not None and (key != "enqueuedAt" or key not in status):
            status[key] = rfc3339(value)
    if obs.runtime_s is not None:
        status["runtimeSeconds"] = round(obs.runtime_s, 6)
    if obs.state == SUCCESS:
        for key in ("error", "traceback", "progress"):
            status.pop(key, None)
        if obs.has_result:
            status["result"], status["resultTruncated"] = cut_value(obs.result)
    elif obs.error_type or obs.error_message:
        error: dict[str, str] = {}
        if obs.error_type:
            error["type"] = obs.error_type
        if obs.error_message:
            error["message"] = obs.error_message[:MAX_MESSAGE_CHARS]
        status["error"] = error
    if obs.traceback and obs.state != SUCCESS:
        status["traceback"] = cut_text(obs.traceback)
    if obs.has_progress:
        status["progress"], _ = cut_value(obs.progress)
    status["conditions"] = conditions(current.get("conditions") or [], status, generation=generation,
                                      now=now)
    return status


def enqueued_status(
    current: Mapping[str, Any], *, task_id: str, queue: str | None, generation: int | None,
    now: float,
) -> dict[str, Any]:
    """The status right after ``enqueue_once`` said "enqueued now"."""
    obs = Observation(state=PENDING, at=now, source="enqueue", queue=queue, enqueued_at=now)
    return task_status(current, obs, task_id=task_id, generation=generation, now=now)


def conditions(
    current: list[Mapping[str, Any]], status: Mapping[str, Any], *, generation: int | None,
    now: float,
) -> list[dict[str, Any]]:
    """``Enqueued``, ``Started`` and ``Finished`` for ``status`` (standard shape).

    ``lastTransitionTime`` moves only when a condition's ``status`` changes.
    """
    state = str(status.get("state") or PENDING)
    error = status.get("error") or {}
    error_text = _error_text(error)
    started = bool(status.get("startedAt")) or rank(state) == 1 or state in (SUCCESS, FAILURE)
    worker = status.get("worker")
    wanted: list[tuple[str, str, str, str, str | None]] = [
        ("Enqueued", "True", "Enqueued",
         f"task {status.get('taskId')} on queue {status.get('queue') or 'default'}",
         status.get("enqueuedAt")),
    ]
    if started:
        wanted.append(("Started", "True", "Started", f"on {worker}" if worker else "started",
                       status.get("startedAt")))
    elif state in (REVOKED, REJECTED):
        wanted.append(("Started", "False", FINISHED_REASONS[state], "finished before it started",
                       None))
    else:
        wanted.append(("Started", "False", "Waiting", "waiting for a worker", None))
    if state in TERMINAL_STATES:
        message = "returned" if state == SUCCESS else (error_text or state.lower())
        wanted.append(("Finished", "True", FINISHED_REASONS[state], message,
                       status.get("finishedAt")))
    elif state == RETRY:
        wanted.append(("Finished", "False", "Retrying", error_text or "will be retried", None))
    else:
        wanted.append(("Finished", "False", "Running" if started else "Pending",
                       f"state {state}", None))
    previous = {str(c.get("type")): c for c in current}
    out: list[dict[str, Any]] = []
    for ctype, cstatus, reason, message, when in wanted:
        old = previous.get(ctype)
        if old is not None and old.get("status") == cstatus and old.get("lastTransitionTime"):
            transition = str(old["lastTransitionTime"])
        else:
            transition = when or rfc3339(now)
        cond: dict[str, Any] = {"type": ctype, "status": cstatus, "reason": reason,
                                "message": message[:MAX_MESSAGE_CHARS],
                                "lastTransitionTime": transition}
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    return out


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) of ``status`` turning ``old`` into ``new``; {} if equal.

    Top-level keys only: a changed nested value (``error``, ``conditions``) is sent whole,
    and a removed key is sent as null.
    """
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if old.get(key) != value:
            patch[key] = _replacement(old.get(key), value)
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def _replacement(old: Any, new: Any) -> Any:
    # A merge patch merges nested objects; null out the keys the new object lost.
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(new)
        for key in old:
            if key not in new:
                out[key] = None
        return out
    return new


def transition_events(old_state: str | None, status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Kubernetes Events for a move from ``old_state`` to ``status``: (type, reason, message)."""
    state = str(status.get("state") or PENDING)
    if state == old_state:
        return []
    worker = status.get("worker") or "a worker"
    out: list[tuple[str, str, str]] = []
    if rank(state) == 1 and rank(old_state) < 1:
        out.append(("Normal", "Started", f"started on {worker}"))
    if state == RETRY:
        out.append(("Warning", "Retrying", _error_text(status.get("error") or {}) or "retrying"))
    if state in TERMINAL_STATES:
        runtime = status.get("runtimeSeconds")
        took = f" in {runtime:.3f} s" if isinstance(runtime, int | float) else ""
        if state == SUCCESS:
            out.append(("Normal", "Succeeded",
                        f"returned {_short(status.get('result'))}{took} on {worker}"))
        else:
            text = _error_text(status.get("error") or {}) or state.lower()
            out.append(("Warning", FINISHED_REASONS[state], f"{text}{took}"))
    return out


def cut_value(value: Any) -> tuple[Any, bool]:
    """``value`` itself if its JSON text fits ``MAX_VALUE_BYTES``; else the cut text and True.

    Values JSON cannot carry (NaN, non-string keys) become their ``repr`` text.
    """
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
        value = text
    if len(text.encode()) <= MAX_VALUE_BYTES:
        return value, False
    return cut_text(text), True


def cut_text(text: str) -> str:
    """``text`` cut to ``MAX_VALUE_BYTES`` of UTF-8 (on a character boundary)."""
    data = text.encode()
    if len(data) <= MAX_VALUE_BYTES:
        return text
    return data[:MAX_VALUE_BYTES].decode(errors="ignore")


def rfc3339(epoch: float) -> str:
    """UTC RFC 3339 with microseconds (what ``format: date-time`` accepts)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_of(text: Any) -> float | None:
    """Epoch seconds of a stored RFC 3339 time (``rfc3339``'s inverse, and what the API
    server writes in ``creationTimestamp``); None for a missing or unreadable one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _error_text(error: Mapping[str, Any]) -> str:
    kind, message = error.get("type"), error.get("message")
    if kind and message:
        return f"{kind}: {message}"
    return str(kind or message or "")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _split_exception(text: str | None) -> tuple[str | None, str | None]:
    """``"ValueError('boom')"`` or ``"ValueError: boom"`` -> (``ValueError``, ``boom``)."""
    if not text:
        return None, None
    head, sep, rest = text.partition(":")
    if sep and head.isidentifier():
        return head, rest.strip()
    head, sep, rest = text.partition("(")
    if sep and head.isidentifier() and rest.endswith(")"):
        inner = rest[:-1]
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            inner = inner[1:-1]
        return head, inner
    return None, text


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
