"""Many calls of one task built at once: the bulk publish path behind ``Task.apply_many``.

Why it exists: building a message costs about 20 µs of Python (options, routing, a
``Message``, a dict, JSON, an id), which caps a one-by-one producer near 35,000 messages/s
however the transport batches. Calls of one task with the same options differ only in
their id and arguments, so the first message is built by ``Celeriac.prepare`` (every
check and default applies) and encoded once as a template; each further message is the
template with its own id and JSON-encoded arguments joined in. Anything the template
cannot express (another serializer, a router function that may look at the arguments,
explicit task ids) falls back to ``prepare`` per call: same messages, only slower.

Messages go out :data:`BATCH` at a time, and batch k+1 is built while batch k is being
written (a sender thread waits on the transport, the GIL released), so the producer's
Python and the broker's work overlap instead of adding up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from celeriac.backends.base import Outgoing
from celeriac.message import new_ids
from celeriac.serialization import json_text

if TYPE_CHECKING:
    from celeriac.app import Celeriac
    from celeriac.task import Task

#: Stand-ins encoded into the template, then cut out with their quotes. The control
#: characters (which JSON always escapes, as ``\\u0001``) keep them from matching any text
#: a caller could put in the template's kwargs or headers by accident.
_ID = "\u0001celeriac-bulk-id\u0001"
_ARGS = "\u0001celeriac-bulk-args\u0001"
_MARKS = re.compile(r'"(\\u0001celeriac-bulk-(?:id|args)\\u0001)"')
_EMPTY_ARGS = b"[]"

#: Messages per round trip: big enough that the round trip is noise, small enough that
#: Redis runs other clients' commands between batches (a batch takes it about 15 ms).
BATCH = 2000


def publish_many(app: Celeriac, task: Task, calls: Sequence[Sequence[Any]], kwargs: Mapping[str, Any] | None,
                 options: Mapping[str, Any]) -> list[str]:
    """Publish ``task`` once per argument list of ``calls``; returns the task ids in order,
    once every message is written."""
    ids: list[str] = []
    with ThreadPoolExecutor(1, thread_name_prefix="celeriac-bulk") as sender:
        writing: Future[None] | None = None
        for start in range(0, len(calls), BATCH):
            messages = prepare_many(app, task, calls[start:start + BATCH], kwargs, options)
            if writing is not None:
                writing.result()
            writing = sender.submit(app.publish, messages)
            ids.extend(m.task_id for m in messages)
        if writing is not None:
            writing.result()
    return ids


def prepare_many(app: Celeriac, task: Task, calls: Sequence[Sequence[Any]], kwargs: Mapping[str, Any] | None,
                 options: Mapping[str, Any]) -> list[Outgoing]:
    """The messages of ``task`` called with each argument list of ``calls`` (no I/O)."""
    if not calls:
        return []
    template = _template(app, task, calls[0], kwargs, options)
    if template is None:
        return [app.prepare(task.name, args, kwargs, options, task=task)[1] for args in calls]
    return template(calls)


def _template(app: Celeriac, task: Task, args0: Sequence[Any], kwargs: Mapping[str, Any] | None,
              options: Mapping[str, Any]) -> Callable[[Sequence[Sequence[Any]]], list[Outgoing]] | None:
    """A builder of outgoing messages from argument lists, or None if calls may differ in
    more than id and arguments."""
    serializer = options.get("serializer") or task.serializer or app.conf.task_serializer
    if serializer != "json" or options.get("task_id") or app.router.has_functions():
        return None
    message, first = app.prepare(task.name, args0, kwargs, options, task=task)
    wire = message.to_dict()
    wire["id"] = _ID
    wire["args"] = _ARGS
    if message.root_id == message.id:
        wire["root_id"] = _ID
    pieces = _MARKS.split(json_text(wire))
    # pieces alternate: literal text, a mark, literal text, ... (marks at odd indexes)
    literal = [p.encode() for p in pieces[0::2]]
    slots = [("id" if "-id" in p else "args") for p in pieces[1::2]]
    name, queue, priority, eta = task.name, first.queue, first.priority, first.eta
    content_type = first.content_type

    def build(calls: Sequence[Sequence[Any]]) -> list[Outgoing]:
        out: list[Outgoing] = []
        append = out.append
        for task_id, args in zip(new_ids(len(calls)), calls, strict=True):
            values = {"id": f'"{task_id}"'.encode(),
                      "args": json_text(list(args)).encode() if args else _EMPTY_ARGS}
            body = [literal[0]]
            for slot, text in zip(slots, literal[1:], strict=True):
                body.append(values[slot])
                body.append(text)
            append(Outgoing(queue, task_id, content_type, b"".join(body), priority, eta, name))
        return out

    return build
