"""Signatures: a task call as a value that can be stored, sent, composed and published.

A signature serializes to a plain dict (``task``, ``args``, ``kwargs``, ``options``,
``subtask_type``, ``immutable``) so it travels inside messages and any worker (or another
language) can carry it. Composite signatures (chain, group, chord, map, chunks) subclass
:class:`Signature` and override three steps: ``freeze`` (pre-assign every task id, so
results are known before anything runs), ``build`` (turn the tree into the messages to
publish now, without I/O) and ``apply`` (run eagerly). This module must not talk to a
transport: publishing is ``app.publish`` of what ``build`` returns.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from celeriac.backends.base import Outgoing
from celeriac.current import current_app
from celeriac.errors import DecodeError
from celeriac.message import new_id
from celeriac.result import AsyncResult

if TYPE_CHECKING:
    from celeriac.app import Celeriac
    from celeriac.canvas.results import ResultLike

#: Header naming the chord whose ordered results a callback message receives first.
CHORD_HEADER = "celeriac_chord"
#: Header marking an errback called Celery's new way: args are (request, exc, traceback).
ERRBACK_HEADER = "celeriac_errback"

#: subtask_type -> class, filled by the modules defining composite signatures.
_TYPES: dict[str, Callable[[Mapping[str, Any], Celeriac | None], Signature]] = {}


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where the messages being built come from (``parent_id``/``root_id`` of each)."""

    parent_id: str | None
    root_id: str | None


@dataclass(frozen=True, slots=True)
class ChordArgs:
    """Passed as ``args`` to a chord callback being built: its worker prepends the results."""

    group_id: str
    size: int


Args = tuple[Any, ...] | ChordArgs


def register_type(name: str, factory: Callable[[Mapping[str, Any], Celeriac | None], Signature]) -> None:
    _TYPES[name] = factory


class Signature(dict[str, Any]):
    """A task name with arguments and call options (``add.s(2, 2)``).

    A ``dict`` as in Celery (keys ``task``, ``args``, ``kwargs``, ``options``,
    ``subtask_type``, ``immutable``), so ``dict(sig)``, ``json.dumps(sig)`` and a signature
    passed as an argument or returned by a task all carry it as its wire form.
    """

    subtask_type_name: ClassVar[str | None] = None

    def __init__(self, task: str | Any, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, *, app: Celeriac | None = None,
                 immutable: bool = False, subtask_type: str | None = None, **ex: Any) -> None:
        if isinstance(task, Mapping):  # signature(dict) as in Celery
            d = task
            task, args, kwargs = d["task"], d.get("args", ()), d.get("kwargs", {})
            options, immutable, subtask_type = d.get("options", {}), d.get("immutable", False), d.get("subtask_type")
        super().__init__(task=task if isinstance(task, str) else task.name, args=tuple(args),
                         kwargs=dict(kwargs or {}), options={**(options or {}), **ex},
                         subtask_type=subtask_type, immutable=bool(immutable))
        self._app = app

    # The dict's items, as attributes (Celery's names).
    @property
    def task(self) -> str:
        return str(self["task"])

    @task.setter
    def task(self, value: str) -> None:
        self["task"] = value

    @property
    def args(self) -> tuple[Any, ...]:
        return self["args"]  # type: ignore[no-any-return]

    @args.setter
    def args(self, value: Sequence[Any]) -> None:
        self["args"] = tuple(value)

    @property
    def kwargs(self) -> dict[str, Any]:
        return self["kwargs"]  # type: ignore[no-any-return]

    @kwargs.setter
    def kwargs(self, value: Mapping[str, Any]) -> None:
        self["kwargs"] = dict(value)

    @property
    def options(self) -> dict[str, Any]:
        return self["options"]  # type: ignore[no-any-return]

    @options.setter
    def options(self, value: Mapping[str, Any]) -> None:
        self["options"] = dict(value)

    @property
    def immutable(self) -> bool:
        return bool(self["immutable"])

    @immutable.setter
    def immutable(self, value: bool) -> None:
        self["immutable"] = bool(value)

    @property
    def subtask_type(self) -> str | None:
        value = self.get("subtask_type")
        return str(value) if value is not None else None

    @subtask_type.setter
    def subtask_type(self, value: str | None) -> None:
        self["subtask_type"] = value

    @property
    def app(self) -> Celeriac:
        return self._app or current_app()

    @property
    def name(self) -> str:
        return self.task

    @property
    def id(self) -> str | None:
        """The pre-assigned task id (set by :meth:`freeze`)."""
        value = self.options.get("task_id")
        return str(value) if value is not None else None

    # -- wire form ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "args": list(self.args), "kwargs": _plain(self.kwargs),
                "options": _plain_options(self.options), "subtask_type": self.subtask_type,
                "immutable": self.immutable}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], app: Celeriac | None = None) -> Signature:
        """Rebuild any signature (composite ones by their ``subtask_type``)."""
        kind = data.get("subtask_type")
        if kind:
            factory = _TYPES.get(str(kind))
            if factory is None:
                raise DecodeError(f"unknown signature subtask_type {kind!r}")
            return factory(data, app)
        return Signature(data["task"], data.get("args", ()), data.get("kwargs", {}), data.get("options", {}),
                         app=app, immutable=bool(data.get("immutable", False)))

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
        """Call ``callback`` with this task's return value when it succeeds."""
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Call ``errback`` when this task fails (see docs/canvas.md for its arguments)."""
        self.options.setdefault("link_error", []).append(errback)
        return errback

    def on_error(self, errback: Signature) -> Signature:
        self.link_error(errback)
        return self

    def freeze(self, _id: str | None = None) -> ResultLike:
        """Assign the task id now (if not yet) and return the result it will have."""
        if _id is not None:
            self.options["task_id"] = _id
        task_id = self.options.setdefault("task_id", new_id())
        return AsyncResult(task_id, app=self.app, task_name=self.task)

    def first_id(self) -> str | None:
        """The id of the first task this signature publishes (the workflow's root)."""
        return self.id

    def build(self, app: Celeriac, args: Args, lineage: Lineage, extra: Mapping[str, Any]) -> list[Outgoing]:
        """The messages that start this signature now, with ``args`` given to its first task(s)."""
        call_args = (*args, *self.args) if isinstance(args, tuple) and args and not self.immutable else self.args
        options = merge_options(self.options, extra)  # a new dict: prepare() does not mutate values
        if isinstance(args, ChordArgs):
            headers = dict(options.get("headers") or {})
            headers[CHORD_HEADER] = {"id": args.group_id, "size": args.size, "prepend": not self.immutable}
            options["headers"] = headers
        if lineage.parent_id is not None:
            options["parent_id"] = lineage.parent_id
        if lineage.root_id is not None:
            options["root_id"] = lineage.root_id
        _, out = app.prepare(self.task, call_args, self.kwargs, options, task=app.tasks.get(self.task))
        return [out]

    def with_extra(self, extra: Mapping[str, Any]) -> Signature:
        """A copy whose result-producing task(s) also get ``extra`` options (chord info, link)."""
        new = self.clone()
        new.options = merge_options(new.options, extra)
        return new

    # -- calling -----------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.app.get_task(self.task)
        return task(*(*args, *self.args), **{**self.kwargs, **kwargs})

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def apply_async(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    **options: Any) -> Any:
        """Publish; returns an :class:`AsyncResult` (a ``GroupResult`` for a group)."""
        sig = self.clone(args, kwargs, **options)
        task = self.app.tasks.get(sig.task)
        if task is not None:
            return task.apply_async(sig.args, sig.kwargs, **sig.options)
        return self.app.send_task(sig.task, sig.args, sig.kwargs, **sig.options)

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Any:
        """Run here and now (eagerly); returns an ``EagerResult``."""
        sig = self.clone(args, kwargs, **options)
        opts = {k: v for k, v in sig.options.items() if k in ("task_id", "throw")}
        return self.app.get_task(sig.task).apply(sig.args, sig.kwargs, **opts)

    # -- composing ---------------------------------------------------------------------------

    def __or__(self, other: Signature) -> Signature:  # type: ignore[override]
        from celeriac.canvas.chain import chain
        from celeriac.canvas.chord import chord
        from celeriac.canvas.group import group

        if not isinstance(other, Signature):
            return NotImplemented
        if isinstance(self, group):
            return chord(self, other, app=self._app)
        if isinstance(self, chain):
            return chain(*self.tasks, other, app=self._app)
        return chain(self, other, app=self._app)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its wire dict (the app is not pickled; the current one is used)."""
        return (Signature.from_dict, (self.to_dict(),))

    def __deepcopy__(self, memo: dict[int, Any]) -> Signature:
        return Signature.from_dict(self.to_dict(), self._app)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Signature) and other.to_dict() == self.to_dict()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:  # type: ignore[override]
        return hash((self.task, self.args))

    def __repr__(self) -> str:
        args = ", ".join([*map(repr, self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        return f"{self.task}({args}){'!' if self.immutable else ''}"


def signature(varies: Any, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None, **kw: Any) -> Signature:
    """Build a signature from a task name, a task, a dict or another signature."""
    if isinstance(varies, Signature):
        return copy.deepcopy(varies)
    if isinstance(varies, Mapping) and varies.get("subtask_type"):
        return Signature.from_dict(varies, kw.get("app"))
    return Signature(varies, args, kwargs, options, **kw)


subtask = signature


def maybe_signature(value: Any, app: Celeriac | None = None) -> Signature:
    """A signature from a signature or its dict form."""
    if isinstance(value, Signature):
        return value
    if isinstance(value, Mapping):
        return Signature.from_dict(value, app)
    raise TypeError(f"expected a signature, got {value!r}")


def merge_options(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``; ``link``/``link_error`` lists and ``headers`` combine."""
    out = dict(base)
    for key, value in extra.items():
        if key in ("link", "link_error") and out.get(key):
            out[key] = [*_as_list(out[key]), *_as_list(value)]
        elif key == "headers" and out.get(key):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _plain(value: Any) -> Any:
    """Signatures nested in arguments (``map``'s task) become dicts."""
    if isinstance(value, Signature):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("link", "link_error"):
            out[key] = [v.to_dict() if isinstance(v, Signature) else v for v in _as_list(value)]
        else:
            out[key] = _plain(value)
    return out


def signatures(items: Iterable[Any], app: Celeriac | None) -> list[Signature]:
    return [maybe_signature(i, app) for i in items]
