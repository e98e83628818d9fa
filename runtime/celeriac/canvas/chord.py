"""``chord``: a group whose ordered results go to a callback, fired exactly once.

Every header message carries ``chord`` = {id, size, index, callback}; the worker that
finishes a header task joins the chord in the same atomic step as its ack (see
``followups.py`` and ``settle.lua``): its result goes to slot ``index`` of the chord's hash
and the last one in publishes the callback. No polling unlock task. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.backends.base import Outgoing
from celeriac.canvas.builtins import ACCUMULATE_TASK
from celeriac.canvas.group import group
from celeriac.canvas.publish import publish_workflow
from celeriac.canvas.results import oldest
from celeriac.canvas.signature import Args, Lineage, Signature, maybe_signature, register_type
from celeriac.errors import CeleriacError

if TYPE_CHECKING:
    from celeriac.app import Celeriac
    from celeriac.canvas.results import ResultLike


class chord(Signature):
    """``chord(add.s(i, i) for i in range(10))(tsum.s())``, or ``chord(header, body)``."""

    def __init__(self, header: Any, body: Any = None, *, app: Celeriac | None = None, **options: Any) -> None:
        head: group = header if isinstance(header, group) else group(header, app=app)
        if any(isinstance(member, group) for member in head.tasks):
            # A group in a header gives ONE slot (its list of results, as Celery nests it):
            # it becomes a chord of that group whose body returns the list. A chord in a
            # header needs nothing: its body joins this chord in its slot.
            head = group([chord(m, Signature(ACCUMULATE_TASK, (), {"index": 0}, app=app or m._app), app=app)
                          if isinstance(m, group) else m for m in head.tasks],
                         app=app or head._app, **head.options)
        callback = maybe_signature(body, app) if body is not None else None
        if app is None:
            app = head._app or (callback._app if callback is not None else None)
        super().__init__("celeriac.chord", (), {"header": head, "body": callback}, options, app=app,
                         subtask_type="chord")

    @property
    def header(self) -> group:
        return self["kwargs"]["header"]  # type: ignore[no-any-return]

    @header.setter
    def header(self, value: group) -> None:
        self["kwargs"] = {**self["kwargs"], "header": value}

    @property
    def body(self) -> Signature | None:
        return self["kwargs"].get("body")  # type: ignore[no-any-return]

    @body.setter
    def body(self, value: Signature | None) -> None:
        self["kwargs"] = {**self["kwargs"], "body": value}

    def __call__(self, body: Any = None, **options: Any) -> Any:  # chord(header)(body)
        if body is not None:
            self.body = maybe_signature(body, self._app)
        return self.apply_async((), {}, **options)

    @property
    def id(self) -> str | None:
        return self.body.id if self.body is not None else None

    @property
    def tasks(self) -> list[Signature]:
        return self.header.tasks

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["kwargs"] = {"header": self.header.to_dict(),
                       "body": self.body.to_dict() if self.body is not None else None}
        return d

    @classmethod
    def _from(cls, data: Mapping[str, Any], app: Celeriac | None) -> Signature:
        kw = data.get("kwargs", {})
        header = Signature.from_dict(kw["header"], app)
        body = Signature.from_dict(kw["body"], app) if kw.get("body") else None
        return cls(header, body, app=app, **dict(data.get("options") or {}))

    def _need_body(self) -> Signature:
        if self.body is None:
            raise CeleriacError("a chord needs a callback: chord(header, body) or chord(header)(body)")
        return self.body

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> chord:
        body = self.body.clone() if self.body is not None else None
        return chord(self.header.clone(args, kwargs), body, app=self._app, **{**self.options, **options})

    def with_extra(self, extra: Mapping[str, Any]) -> Signature:
        return chord(self.header.clone(), self._need_body().with_extra(extra), app=self._app, **self.options)

    def link(self, callback: Signature) -> Signature:
        return self._need_body().link(callback)

    def link_error(self, errback: Signature) -> Signature:
        """Called when the chord fails (its callback fails with :class:`ChordError`)."""
        return self._need_body().link_error(errback)

    def freeze(self, _id: str | None = None) -> ResultLike:
        header = self.header.freeze()
        result = self._need_body().freeze(_id)
        oldest(result).parent = header
        if self.is_group_slot():
            return header  # a group in a chord header: Celery's shape, a GroupResult in the GroupResult
        return result

    def is_group_slot(self) -> bool:
        """This chord stands for a group inside a chord header (its body only gathers the list)."""
        body = self.body
        return (body is not None and body.task == ACCUMULATE_TASK and body.kwargs == {"index": 0}
                and not body.options.get("link"))

    def first_id(self) -> str | None:
        return self.header.first_id() or self.id

    def build(self, app: Celeriac, args: Args, lineage: Lineage, extra: Mapping[str, Any]) -> list[Outgoing]:
        body = self._need_body()
        if extra:
            body = body.with_extra(extra)
        size = len(self.header.tasks)
        if size == 0:
            return body.build(app, ([],), lineage, {})
        gid = str(self.header.options.setdefault("group_id", self.options.get("group_id") or body.id))
        info = {"id": gid, "size": size, "callback": body.to_dict()}
        call = {k: v for k, v in self.options.items() if k not in ("task_id", "group_id", "root_id", "parent_id")}
        return self.header.build_members(app, args, lineage, call,
                                         lambda i: {"chord": {**info, "index": i}})

    def apply_async(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    **options: Any) -> Any:
        """Publish the header in one batch; returns the callback's result (``.parent``: the header)."""
        return publish_workflow(self, args, kwargs, options)

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Any:
        header = self.header.apply(args, kwargs, **options)
        result = self._need_body().apply((header.get(),), None, **options)
        result.parent = header
        return result

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"


register_type("chord", chord._from)
