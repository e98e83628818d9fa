"""``group``: run signatures in parallel, published in ONE batched call; a ``GroupResult``.

Each member message carries ``group`` (the group id) and ``group_index`` (its place), so the
results can be read back in order and a whole workflow traced. No I/O here beyond handing
the built messages to ``app.publish``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.backends.base import Outgoing
from celeriac.canvas.publish import publish_workflow
from celeriac.canvas.results import GroupResult
from celeriac.canvas.signature import Args, Lineage, Signature, maybe_signature, register_type
from celeriac.message import new_id

if TYPE_CHECKING:
    from celeriac.app import Celeriac

#: Options of a composite that are its own structure, not call options for its members.
STRUCTURAL = frozenset({"task_id", "group_id", "root_id", "parent_id"})


def flatten_args(tasks: tuple[Any, ...]) -> tuple[Any, ...]:
    """``f(a, b)``, ``f([a, b])`` and ``f(x for x in ...)`` all mean the same tasks."""
    if len(tasks) == 1 and not isinstance(tasks[0], Signature | Mapping):
        return tuple(tasks[0])
    return tasks


class TaskList(Signature):
    """A signature made of other signatures (``tasks``), as group and chain are: on the
    wire their ``kwargs`` hold ``{"tasks": [signature dicts]}``."""

    @property
    def tasks(self) -> list[Signature]:
        return self["kwargs"]["tasks"]  # type: ignore[no-any-return]

    @tasks.setter
    def tasks(self, value: list[Signature]) -> None:
        self["kwargs"] = {**self.get("kwargs", {}), "tasks": list(value)}

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["kwargs"] = {"tasks": [t.to_dict() for t in self.tasks]}
        return d

    @classmethod
    def _from(cls, data: Mapping[str, Any], app: Celeriac | None) -> Signature:
        tasks = [Signature.from_dict(t, app) for t in data.get("kwargs", {}).get("tasks", [])]
        return cls(tasks, app=app, **dict(data.get("options") or {}))


class group(TaskList):
    """``group(add.s(i, i) for i in range(10))``: run all at once, results in order."""

    def __init__(self, *tasks: Any, app: Celeriac | None = None, **options: Any) -> None:
        members = [maybe_signature(t, app) for t in flatten_args(tasks)]
        super().__init__("celeriac.group", (), {"tasks": members}, options, app=app, subtask_type="group")
        if app is None and self.tasks:
            self._app = self.tasks[0]._app

    def __call__(self, *args: Any, **options: Any) -> GroupResult:
        """``group(...)()`` applies the group asynchronously, as in Celery."""
        return self.apply_async(args, **options)

    @property
    def id(self) -> str | None:
        value = self.options.get("group_id")
        return str(value) if value is not None else None

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> group:
        tasks = [t.clone(args, kwargs) for t in self.tasks]
        return group(tasks, app=self._app, **{**self.options, **options})

    def with_extra(self, extra: Mapping[str, Any]) -> Signature:
        return group([t.with_extra(extra) for t in self.tasks], app=self._app, **self.options)

    def link(self, callback: Signature) -> Signature:
        for t in self.tasks:
            t.link(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        for t in self.tasks:
            t.link_error(errback)
        return errback

    def freeze(self, _id: str | None = None) -> GroupResult:
        if _id is not None:
            self.options["group_id"] = _id
        gid = self.options.setdefault("group_id", new_id())
        return GroupResult(gid, [t.freeze() for t in self.tasks], app=self.app)

    def first_id(self) -> str | None:
        return self.tasks[0].first_id() if self.tasks else self.id

    def build(self, app: Celeriac, args: Args, lineage: Lineage, extra: Mapping[str, Any]) -> list[Outgoing]:
        return self.build_members(app, args, lineage, extra, None)

    def build_members(self, app: Celeriac, args: Args, lineage: Lineage, extra: Mapping[str, Any],
                      per_index: Callable[[int], Mapping[str, Any]] | None) -> list[Outgoing]:
        gid = self.options.setdefault("group_id", new_id())
        call = {k: v for k, v in self.options.items() if k not in STRUCTURAL}
        out: list[Outgoing] = []
        for i, task in enumerate(self.tasks):
            member = {**call, **extra, "group_id": gid, "group_index": i}
            if per_index is not None:
                member.update(per_index(i))
            out.extend(task.build(app, args, lineage, member))
        return out

    def apply_async(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    **options: Any) -> GroupResult:

        result = publish_workflow(self, args, kwargs, options)
        assert isinstance(result, GroupResult)
        return result

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> GroupResult:
        gid = self.options.setdefault("group_id", new_id())
        return GroupResult(gid, [t.apply(args, kwargs, **options) for t in self.tasks], app=self.app)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Signature]:  # type: ignore[override]
        return iter(self.tasks)

    def __repr__(self) -> str:
        return f"group({', '.join(map(repr, self.tasks))})"


register_type("group", group._from)
