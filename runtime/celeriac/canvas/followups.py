"""Worker side of the canvas: what a finished task adds to its settlement, and chord inputs.

Called by ``worker/execute.py`` while it builds the :class:`Settlement` of a finished task,
so everything here lands in the same atomic write as the ack: ``link`` callbacks and the
chain's next step (success), ``link_error`` errbacks and "not run" records for the chain's
remaining steps (failure), and the chord join (both). Also turns a chord callback's or a
new-style errback's message into its real arguments before it runs. No I/O except reading
a chord's results (``Backend.get_chord``) for a callback about to run.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celeriac import serialization, states
from celeriac.backends.base import ChordJoin, Outgoing, ResultRecord, Settlement
from celeriac.canvas.signature import CHORD_HEADER, ERRBACK_HEADER, ChordArgs, Lineage, Signature
from celeriac.errors import ChordError, DecodeError
from celeriac.message import MAX_CHORD_SIZE
from celeriac.request import Context
from celeriac.result import exception_from_dict, exception_to_dict

if TYPE_CHECKING:
    from celeriac.app import Celeriac
    from celeriac.message import Message

logger = logging.getLogger(__name__)

CALLBACK_CACHE_SIZE = 64  #: chords whose prebuilt callback messages a worker keeps
_callbacks: OrderedDict[str, tuple[Outgoing, ...]] = OrderedDict()


def _lineage(m: Message) -> Lineage:
    return Lineage(parent_id=m.id, root_id=m.root_id or m.id)


# -- success ---------------------------------------------------------------------------------

def after_success(app: Celeriac, m: Message, value: Any, settlement: Settlement) -> None:
    """Add ``link`` callbacks, the chain's next step and the chord join to a success."""
    lineage = _lineage(m)
    for data in m.callbacks or ():
        settlement.publish.extend(Signature.from_dict(data, app).build(app, (value,), lineage, {}))
    if m.chain:
        nxt = Signature.from_dict(m.chain[0], app)
        rest = m.chain[1:]
        settlement.publish.extend(nxt.build(app, (value,), lineage, {"chain": rest} if rest else {}))
    if m.chord:
        content_type, payload = serialization.dumps(value, app.conf.result_serializer)
        settlement.chord = _join(app, m, m.chord, content_type.encode() + b"\n" + payload, failed=False)


# -- failure ---------------------------------------------------------------------------------

def after_failure(app: Celeriac, m: Message, exc: BaseException, traceback: str | None,
                  settlement: Settlement, *, state: str = states.FAILURE) -> None:
    """Add errbacks, "not run" records for the rest of the chain, and a failed chord join."""
    lineage = _lineage(m)
    exc_dict = exception_to_dict(exc)
    if state == states.FAILURE:
        for data in m.errbacks or ():
            sig = Signature.from_dict(data, app)
            if sig.immutable:
                settlement.publish.extend(sig.build(app, (), lineage, {}))
            elif _new_style_errback(app, sig):
                request = {"id": m.id, "task": m.task, "args": m.args, "kwargs": m.kwargs,
                           "root_id": m.root_id, "parent_id": m.parent_id, "group": m.group,
                           "group_index": m.group_index, "retries": m.retries}
                settlement.publish.extend(sig.build(app, (request, exc_dict, traceback or ""), lineage,
                                                   {"headers": {ERRBACK_HEADER: 1}}))
            else:
                settlement.publish.extend(sig.build(app, (m.id,), lineage, {}))
    if m.chain:
        reason = f"not run: chain step {m.task}[{m.id}] ended {state}"
        content_type, payload = serialization.dumps(exc_dict, app.conf.result_serializer)
        now = time.time()
        for step in m.chain:
            for task_id, name in _task_ids(step):
                settlement.more_results.append(ResultRecord(
                    task_id=task_id, status=state, result=payload, content_type=content_type,
                    traceback=traceback, date_done=now, task=name, parent_id=m.id,
                    root_id=m.root_id or m.id, extra={"reason": reason}))
    chord = m.chord or (m.chain[-1].get("options", {}).get("chord") if m.chain else None)
    if chord:
        failure = {"task_id": m.id, "task": m.task, "index": chord.get("index"), "state": state,
                   "exc": exc_dict, "traceback": traceback}
        settlement.chord = _join(app, m, chord, json.dumps(failure).encode(), failed=True)


def _new_style_errback(app: Celeriac, sig: Signature) -> bool:
    """Celery's rule: an errback taking more than one argument gets (request, exc, traceback)."""
    task = app.tasks.get(sig.task)
    if task is None:
        return False
    try:
        params = list(inspect.signature(task.run).parameters.values())
    except (TypeError, ValueError):
        return False
    if task.bind and params:
        params = params[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)) > 1


def _task_ids(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every pre-assigned task id in a signature dict (nested chains, groups, chords)."""
    kind = data.get("subtask_type")
    kwargs = data.get("kwargs") or {}
    if kind in ("chain", "group"):
        return [i for t in kwargs.get("tasks", []) for i in _task_ids(t)]
    if kind == "chord":
        out = _task_ids(kwargs["header"])
        return out + (_task_ids(kwargs["body"]) if kwargs.get("body") else [])
    task_id = (data.get("options") or {}).get("task_id")
    return [(str(task_id), str(data.get("task")))] if task_id else []


# -- chords ----------------------------------------------------------------------------------

def _join(app: Celeriac, m: Message, chord: Mapping[str, Any], value: bytes, *, failed: bool) -> ChordJoin:
    group_id = str(chord["id"])
    # the size the chord was published with: an added member's ``size`` counts the members
    # added up to it (the join reads how many were added from the store)
    size = int(chord["size"]) - int(chord.get("added", 0))
    callback = _callbacks.get(group_id)
    if callback is None:
        body = Signature.from_dict(chord["callback"], app)
        lineage = Lineage(parent_id=group_id, root_id=m.root_id or m.id)
        callback = tuple(body.build(app, ChordArgs(group_id, size), lineage, {}))
        _callbacks[group_id] = callback
        while len(_callbacks) > CALLBACK_CACHE_SIZE:
            _callbacks.popitem(last=False)
    return ChordJoin(group_id=group_id, index=int(chord.get("index", 0)), size=size,
                     result=value, callback=callback, failed=failed)


def needs_resolving(m: Message) -> bool:
    headers = m.headers
    return bool(headers) and (CHORD_HEADER in headers or ERRBACK_HEADER in headers)  # type: ignore[operator]


def resolve(app: Celeriac, m: Message) -> Message:
    """The message with its real arguments: a chord's ordered results, a rebuilt request/exc.

    Raises:
        ChordError: a header task of the chord failed (naming it), or results are missing.
    """
    headers = m.headers or {}
    args = list(m.args)
    chord = headers.get(CHORD_HEADER)
    if chord:
        args = _chord_args(app, chord, args)
    if headers.get(ERRBACK_HEADER) and len(args) >= 2 and isinstance(args[0], dict):
        known = {k: v for k, v in args[0].items() if k in Context.__dataclass_fields__}
        tb = args[2] if len(args) > 2 and isinstance(args[2], str) else None
        args[0] = Context(**known)
        if isinstance(args[1], dict) and "exc_type" in args[1]:
            args[1] = exception_from_dict(args[1], tb)
    return m.replace(args=args)


def _chord_args(app: Celeriac, chord: Mapping[str, Any], args: list[Any]) -> list[Any]:
    if not isinstance(chord, Mapping) or not isinstance(chord.get("id"), str) or not chord["id"]:
        raise DecodeError(f"header {CHORD_HEADER!r} must be an object with a string 'id'")
    size = chord.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_CHORD_SIZE:
        raise DecodeError(f"header '{CHORD_HEADER}.size' must be an integer 1-{MAX_CHORD_SIZE}")
    group_id = chord["id"]
    state = app.broker.get_chord(group_id)  # joined by the broker's settle, with the acks
    if state.failure is not None:
        try:
            info = json.loads(state.failure)
        except ValueError:
            raise DecodeError(f"chord {group_id}: its failure record is not JSON") from None
        if not isinstance(info, dict):
            raise DecodeError(f"chord {group_id}: its failure record is not an object")
        found = info.get("exc")
        exc: dict[str, Any] = found if isinstance(found, dict) else {}
        msg = exc.get("exc_message") or []
        message = " ".join(map(str, msg if isinstance(msg, list) else [msg]))
        raise ChordError(f"Dependency {info.get('task_id')} ({info.get('task')}, header index "
                         f"{info.get('index')}) raised {exc.get('exc_type', 'an error')}: {message}"
                         ) from exception_from_dict(exc, info.get("traceback"))
    size += state.extra  # members added by Task.add_to_chord, after the header's own
    missing = [i for i in range(size) if i not in state.values]
    if missing:
        raise ChordError(f"chord {group_id}: results of header tasks {missing[:10]} are missing "
                         "(expired from the result store?)")
    accept = serialization.accepted(app.conf.result_accept_content or app.conf.accept_content)
    accept = accept | {serialization.content_type_of(app.conf.result_serializer)}
    values = []
    for i in range(size):
        content_type, _, payload = state.values[i].partition(b"\n")
        try:  # DecodeError (and ContentDisallowed) name the problem; anything else is wrapped
            values.append(serialization.loads(payload, content_type.decode(), accept))
        except DecodeError as exc:
            raise DecodeError(f"chord {group_id}: the result of header task {i} cannot be read: {exc}") from None
        except Exception as exc:
            raise DecodeError(f"chord {group_id}: the result of header task {i} cannot be read: "
                              f"{type(exc).__name__}: {exc}") from None
    return [values, *args] if chord.get("prepend", True) else args
