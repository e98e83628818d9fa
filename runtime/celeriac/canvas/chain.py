"""``chain``: run signatures one after another, each result given to the next.

All task ids are assigned when the chain is applied, and the steps still to run travel in
the ``chain`` field of each message (next step first), so the worker that finishes a step
publishes the next one in the same atomic step as its ack. A group followed by more steps
becomes a chord (its results go to the next step), as in Celery. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.backends.base import Outgoing
from celeriac.canvas.group import TaskList, flatten_args, group
from celeriac.canvas.publish import publish_workflow
from celeriac.canvas.results import GroupResult, oldest
from celeriac.canvas.signature import Args, Lineage, Signature, maybe_signature, register_type

if TYPE_CHECKING:
    from celeriac.app import Celeriac
    from celeriac.canvas.results import ResultLike


def normalize(steps: list[Signature], app: Celeriac | None) -> list[Signature]:
    """Flatten nested chains; fold ``group, *rest`` and ``chord, *rest`` into one chord step.

    Afterwards every step but the last is a plain task signature, so a message's ``chain``
    field only ever starts with something one message can run.
    """
    from celeriac.canvas.builtins import chunks
    from celeriac.canvas.chord import chord

    flat: list[Signature] = []
    for step in steps:
        if isinstance(step, chunks):  # a chunks step is the group of its starmap tasks
            step = step.group()
        if isinstance(step, chain):
            flat.extend(step.tasks)
        else:
            flat.append(step)
    out: list[Signature] = []
    for i, step in enumerate(flat):
        rest = flat[i + 1:]
        if rest and isinstance(step, chord):
            out.append(chord(step.header, chain(step.body, *rest, app=app), app=app, **step.options))
            break
        if rest and isinstance(step, group):
            body = rest[0] if len(rest) == 1 else chain(*rest, app=app)
            out.append(chord(step, body, app=app))
            break
        out.append(step)
    return out


class chain(TaskList):
    """``chain(add.s(2, 2), mul.s(4))`` or ``add.s(2, 2) | mul.s(4)``."""

    def __init__(self, *tasks: Any, app: Celeriac | None = None, **options: Any) -> None:
        steps = [maybe_signature(t, app) for t in flatten_args(tasks)]
        if app is None:
            app = next((s._app for s in steps if s._app is not None), None)
        super().__init__("celeriac.chain", (), {"tasks": normalize(steps, app)}, options, app=app,
                         subtask_type="chain")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``chain(...)()`` applies the chain asynchronously, as in Celery."""
        return self.apply_async(args, kwargs) if self.tasks else None

    @property
    def id(self) -> str | None:
        return self.tasks[-1].id if self.tasks else None

    def clone(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> chain:
        tasks = [t.clone() for t in self.tasks]
        if tasks and (args or kwargs):
            tasks[0] = tasks[0].clone(args, kwargs)
        return chain(tasks, app=self._app, **{**self.options, **options})

    def with_extra(self, extra: Mapping[str, Any]) -> Signature:
        tasks = list(self.tasks)
        if tasks:
            tasks[-1] = tasks[-1].with_extra(extra)
        return chain(tasks, app=self._app, **self.options)

    def link(self, callback: Signature) -> Signature:
        """Called with the last step's result."""
        if self.tasks:
            self.tasks[-1].link(callback)
        return callback

    def link_error(self, errback: Signature) -> Signature:
        """Called when any step fails (as Celery: attached to every step)."""
        for t in self.tasks:
            t.link_error(errback)
        return errback

    def freeze(self, _id: str | None = None) -> ResultLike:
        previous: ResultLike | None = None
        for i, step in enumerate(self.tasks):
            result = step.freeze(_id if i == len(self.tasks) - 1 else None)  # task_id= names the last
            if previous is not None:
                oldest(result).parent = previous
            previous = result
        if previous is None:
            raise ValueError("an empty chain has no result")
        return previous

    def first_id(self) -> str | None:
        return self.tasks[0].first_id() if self.tasks else None

    def build(self, app: Celeriac, args: Args, lineage: Lineage, extra: Mapping[str, Any]) -> list[Outgoing]:
        steps = list(self.tasks)
        if not steps:
            return []
        if extra:
            steps[-1] = steps[-1].with_extra(extra)
        first, rest = steps[0], steps[1:]
        call = {k: v for k, v in self.options.items() if k not in ("task_id", "root_id", "parent_id")}
        if not rest:
            return first.build(app, args, lineage, call)
        return first.build(app, args, lineage, {**call, "chain": [s.to_dict() for s in rest]})

    def apply_async(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    **options: Any) -> Any:
        """Publish the first step; returns the LAST step's result (``.parent`` walks back)."""
        return publish_workflow(self, args, kwargs, options)

    def apply(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
              **options: Any) -> Any:
        result: Any = None
        call_args: tuple[Any, ...] = tuple(args or ())
        for i, step in enumerate(self.tasks):
            res = step.apply(call_args, kwargs if i == 0 else None, **options)
            if result is not None:
                oldest(res).parent = result
            result = res
            value = res.get()
            call_args = (value,)
            if isinstance(res, GroupResult):
                call_args = (list(value),)
        return result

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.tasks)) or "chain()"


register_type("chain", chain._from)
