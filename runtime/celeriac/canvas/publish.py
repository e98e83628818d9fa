"""Apply a composite signature from a producer: freeze ids, build messages, publish ONCE.

The only place a workflow meets the transport on the producer side (``app.publish`` of
every message built, in one batched call), so a group of 1,000 costs one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celeriac.canvas.signature import Lineage, Signature
from celeriac.request import add_child, current_request


def publish_workflow(sig: Signature, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None,
                     options: Mapping[str, Any]) -> Any:
    """Publish ``sig`` with ``args``/``kwargs`` for its first task(s); returns its result."""
    app = sig.app
    options = dict(options)
    if app.conf.task_always_eager:
        return sig.apply(args, kwargs)
    work = sig.clone(None, kwargs) if kwargs else sig.clone()
    task_id = options.pop("task_id", None)
    result = work.freeze(task_id)
    parent = current_request()
    root_id = options.pop("root_id", None) or (parent.root_id if parent else None)
    if root_id is None and work.subtask_type != "group":
        # A chain or chord is one workflow rooted at its first task; a group's members are
        # each their own root, as Celery sets them (the group id ties them together).
        root_id = work.first_id()
    parent_id = options.pop("parent_id", None) or (parent.id if parent else None)
    if options:
        work = _with_call_options(work, options)
    messages = work.build(app, tuple(args or ()), Lineage(parent_id, root_id), {})
    app.publish(messages)
    for message in messages:
        add_child(message.task_id)
    return result


def _with_call_options(sig: Signature, options: Mapping[str, Any]) -> Signature:
    """``apply_async(queue=..., countdown=...)`` on a composite: the tasks published now get them."""
    from celeriac.canvas.chain import chain
    from celeriac.canvas.chord import chord
    from celeriac.canvas.group import group

    link = options.get("link")
    link_error = options.get("link_error")
    call = {k: v for k, v in options.items() if k not in ("link", "link_error")}
    if link is not None:
        for cb in link if isinstance(link, list | tuple) else [link]:
            sig.link(cb)
    if link_error is not None:
        for eb in link_error if isinstance(link_error, list | tuple) else [link_error]:
            sig.link_error(eb)
    if not call:
        return sig
    if isinstance(sig, chain):
        sig.tasks[0] = _with_call_options(sig.tasks[0], call)
    elif isinstance(sig, chord):
        sig.header.tasks = [_with_call_options(t, call) for t in sig.header.tasks]
    elif isinstance(sig, group):
        sig.tasks = [_with_call_options(t, call) for t in sig.tasks]
    else:
        sig.options.update(call)
    return sig
