"""``task.map``, ``task.starmap`` and ``task.chunks``, with the built-in tasks that run them.

As in Celery, ``map``/``starmap`` are ONE task that calls the task's function over a
sequence in the worker, and ``chunks`` splits a sequence into groups of ``starmap`` tasks.
The built-in tasks (``celeriac.map``, ``celeriac.starmap``) are registered in every app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from celeriac.canvas.group import group
from celeriac.canvas.signature import Signature, register_type

if TYPE_CHECKING:
    from celeriac.app import Celeriac

MAP_TASK = "celeriac.map"  #: built-in task running a task's function over a sequence
STARMAP_TASK = "celeriac.starmap"  #: same, each item unpacked as positional arguments
ACCUMULATE_TASK = "celeriac.accumulate"  #: returns its arguments (a group replacing a task ends in it)


def _call_map(app: Celeriac, task: Mapping[str, Any], it: Iterable[Any], star: bool) -> list[Any]:
    fun = app.get_task(str(task["task"]))
    return [fun(*item) if star else fun(item) for item in it]


def register_builtins(app: Celeriac) -> None:
    """Add the built-in canvas tasks to ``app`` (called for every app created)."""
    if MAP_TASK in app.tasks:
        return

    def xmap_run(task: dict[str, Any], it: list[Any]) -> list[Any]:
        return _call_map(app, task, it, star=False)

    def xstarmap_run(task: dict[str, Any], it: list[Any]) -> list[Any]:
        return _call_map(app, task, it, star=True)

    def accumulate(*args: Any, index: int | None = None) -> Any:
        return args[index] if index is not None else list(args)

    app.task(name=MAP_TASK)(xmap_run)
    app.task(name=STARMAP_TASK)(xstarmap_run)
    app.task(name=ACCUMULATE_TASK)(accumulate)


class xmap(Signature):
    """``add.map([1, 2, 3])``: one task calling ``add(item)`` for each item."""

    name_of_task = MAP_TASK

    def __init__(self, task: Signature | Mapping[str, Any], it: Iterable[Any], *,
                 app: Celeriac | None = None, **options: Any) -> None:
        inner = task if isinstance(task, Signature) else Signature.from_dict(task, app)
        super().__init__(self.name_of_task, (), {"task": inner.to_dict(), "it": [_listed(i) for i in it]},
                         options, app=app or inner._app, immutable=True)

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Signature:
        return type(self)(self.kwargs["task"], self.kwargs["it"], app=self._app, **{**self.options, **options})

    def __repr__(self) -> str:
        return f"[{self.kwargs['task']['task']}(x) for x in {self.kwargs['it']!r}]"


class xstarmap(xmap):
    """``add.starmap([(1, 2), (3, 4)])``: one task calling ``add(*item)`` for each item."""

    name_of_task = STARMAP_TASK

    def __repr__(self) -> str:
        return f"[{self.kwargs['task']['task']}(*x) for x in {self.kwargs['it']!r}]"


def _listed(item: Any) -> Any:
    return list(item) if isinstance(item, tuple) else item


class chunks(Signature):
    """``add.chunks(zip(range(100), range(100)), 10)``: 10 ``starmap`` tasks of 10 calls each."""

    def __init__(self, task: Signature | Mapping[str, Any], it: Iterable[Any], n: int, *,
                 app: Celeriac | None = None, **options: Any) -> None:
        inner = task if isinstance(task, Signature) else Signature.from_dict(task, app)
        if n < 1:
            raise ValueError("chunks: n must be at least 1")
        super().__init__("celeriac.chunks", (), {"task": inner.to_dict(), "it": [_listed(i) for i in it], "n": n},
                         options, app=app or inner._app, subtask_type="chunks", immutable=True)

    @classmethod
    def _from(cls, data: Mapping[str, Any], app: Celeriac | None) -> Signature:
        kw = data["kwargs"]
        return cls(kw["task"], kw["it"], int(kw["n"]), app=app, **dict(data.get("options") or {}))

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Signature:
        kw = self.kwargs
        return chunks(kw["task"], kw["it"], kw["n"], app=self._app, **{**self.options, **options})

    def group(self) -> group:
        """The group of ``starmap`` tasks this stands for."""
        kw = self.kwargs
        items = iter(kw["it"])
        parts = []
        while True:
            part = list(islice(items, int(kw["n"])))
            if not part:
                break
            parts.append(xstarmap(kw["task"], part, app=self._app))
        return group(parts, app=self._app, **self.options)

    def freeze(self, _id: str | None = None) -> Any:
        raise TypeError("freeze the group instead: chunks(...).group()")

    def build(self, *args: Any, **kwargs: Any) -> Any:
        return self.group().build(*args, **kwargs)

    def apply_async(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    **options: Any) -> Any:
        """Publish every chunk in one batch; a ``GroupResult`` (one list per chunk)."""
        return self.group().apply_async(args, kwargs, **options)

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Any:
        return self.group().apply(args, kwargs, **options)

    def __repr__(self) -> str:
        return f"chunks({self.kwargs['task']['task']}, n={self.kwargs['n']})"


register_type("chunks", chunks._from)
