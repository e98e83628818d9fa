"""Signatures: a task call as a value that can be stored, sent, and composed.

A signature serializes to a plain dict (``task``, ``args``, ``kwargs``, ``options``,
``subtask_type``, ``immutable``) so it travels inside messages and any worker (or another
language) can carry it. This module also decides the follow-up messages a finished task
publishes (``link`` callbacks, the rest of a chain, ``link_error`` errbacks).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.backends.base import Outgoing

if TYPE_CHECKING:
    from celeriac.app import Celeriac
    from celeriac.message import Message
    from celeriac.result import AsyncResult


class Signature:
    """A task name with arguments and call options (``add.s(2, 2)``)."""

    def __init__(self, task: str | Any, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, *, app: Celeriac | None = None,
                 immutable: bool = False, subtask_type: str | None = None, **ex: Any) -> None:
        if isinstance(task, Mapping):  # signature(dict) as in Celery
            d = task
            task, args, kwargs = d["task"], d.get("args", ()), d.get("kwargs", {})
            options, immutable, subtask_type = d.get("options", {}), d.get("immutable", False), d.get("subtask_type")
        self.task: str = task if isinstance(task, str) else task.name
        self.args: tuple[Any, ...] = tuple(args)
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.options: dict[str, Any] = {**(options or {}), **ex}
        self.immutable = immutable
        self.subtask_type = subtask_type
        self._app = app

    @property
    def app(self) -> Celeriac:
        from celeriac.app import current_app

        return self._app or current_app()

    @property
    def name(self) -> str:
        return self.task

    # -- wire form ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "args": list(self.args), "kwargs": self.kwargs,
                "options": _plain_options(self.options), "subtask_type": self.subtask_type,
                "immutable": self.immutable}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celeriac | None = None) -> Signature:
        return cls(data["task"], data.get("args", ()), data.get("kwargs", {}), data.get("options", {}),
                   app=app, immutable=bool(data.get("immutable", False)), subtask_type=data.get("subtask_type"))

    # -- building ----------------------------------------------------------------------------

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Signature:
        """A copy with ``args`` prepended (unless immutable) and ``kwargs``/options merged."""
        new_args = self.args if self.immutable or not args else (*args, *self.args)
        new_kwargs = self.kwargs if self.immutable else {**self.kwargs, **(kwargs or {})}
        return Signature(self.task, new_args, new_kwargs, {**copy.deepcopy(self.options), **options},
                         app=self._app, immutable=self.immutable, subtask_type=self.subtask_type)

    def set(self, **options: Any) -> Signature:
        self.options.update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self.immutable = immutable

    def link(self, callback: Signature) -> Signature:
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        self.options.setdefault("link_error", []).append(errback)
        return errback

    # -- calling -----------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.app.get_task(self.task)
        return task(*(*args, *self.args), **{**self.kwargs, **kwargs})

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    **options: Any) -> AsyncResult:
        sig = self.clone(args, kwargs, **options)
        task = self.app.tasks.get(sig.task)
        if task is not None:
            return task.apply_async(sig.args, sig.kwargs, **sig.options)
        return self.app.send_task(sig.task, sig.args, sig.kwargs, **sig.options)

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> AsyncResult:
        sig = self.clone(args, kwargs, **options)
        return self.app.get_task(sig.task).apply(sig.args, sig.kwargs, **sig.options)

    def __or__(self, other: Signature) -> Any:
        from celeriac import canvas_chain  # type: ignore[attr-defined,unused-ignore]

        return canvas_chain(self, other)  # pragma: no cover - replaced by the canvas module

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash((self.task, self.args))

    def __repr__(self) -> str:
        args = ", ".join([*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        return f"{self.task}({args}){'!' if self.immutable else ''}"


def signature(varies: Any, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None, **kw: Any) -> Signature:
    """Build a signature from a task name, a task, a dict or another signature."""
    if isinstance(varies, Signature):
        return varies.clone()
    return Signature(varies, args, kwargs, options, **kw)


def _plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("link", "link_error"):
            items = value if isinstance(value, list | tuple) else [value]
            out[key] = [v.to_dict() if isinstance(v, Signature) else v for v in items]
        else:
            out[key] = value
    return out


def _outgoing(app: Celeriac, sig: Signature, parent: Message, **extra: Any) -> Outgoing:
    task = app.tasks.get(sig.task)
    options = {**sig.options, **extra, "parent_id": parent.id, "root_id": parent.root_id or parent.id}
    _, out = app.prepare(sig.task, sig.args, sig.kwargs, options, task=task)
    return out


def on_success_followups(app: Celeriac, message: Message, value: Any) -> list[Outgoing]:
    """Messages a successful task publishes: its ``link`` callbacks and the chain's next step."""
    out: list[Outgoing] = []
    for data in message.callbacks or ():
        sig = Signature.from_dict(data, app).clone((value,))
        out.append(_outgoing(app, sig, message))
    if message.chain:
        nxt = Signature.from_dict(message.chain[0], app).clone((value,))
        out.append(_outgoing(app, nxt, message, chain=message.chain[1:] or None))
    return out


def on_failure_followups(app: Celeriac, message: Message, exc: BaseException,
                         traceback: str | None) -> list[Outgoing]:
    """Messages a failed task publishes: its ``link_error`` errbacks (given the task id)."""
    out: list[Outgoing] = []
    for data in message.errbacks or ():
        sig = Signature.from_dict(data, app).clone((message.id,))
        out.append(_outgoing(app, sig, message))
    return out
