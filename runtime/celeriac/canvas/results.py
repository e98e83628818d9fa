"""``ResultSet`` and ``GroupResult``: results read in order; a group's saved and restored by id.

Waiting reads every member's state in one round trip first (most are usually done), then
blocks on the ones still running in order, each wait woken by the transport's completion
signal (no polling). Stored groups live in the result store (``Backend.save_group``).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Union

from celeriac import states
from celeriac.current import current_app
from celeriac.errors import ResultTimeout
from celeriac.result import AsyncResult, EagerResult

if TYPE_CHECKING:
    from celeriac.app import Celeriac

ResultLike = Union[AsyncResult, "GroupResult"]


def oldest(result: Any) -> Any:
    """The first result of a chain of ``.parent`` links (where an earlier step attaches)."""
    while getattr(result, "parent", None) is not None:
        result = result.parent
    return result


class ResultSet:
    """A set of results waited for and read together (Celery's ``ResultSet``), in order."""

    def __init__(self, results: Sequence[ResultLike], app: Celeriac | None = None, **kwargs: Any) -> None:
        self.results: list[ResultLike] = list(results)
        self.app = app or current_app()

    # -- membership --------------------------------------------------------------------------

    def add(self, result: ResultLike) -> None:
        """Add a result (nothing if it is already a member)."""
        if result not in self.results:
            self.results.append(result)

    def remove(self, result: ResultLike | str) -> None:
        """Remove a member.

        Raises:
            KeyError: ``result`` is not a member.
        """
        if isinstance(result, str):
            result = AsyncResult(result, app=self.app)
        try:
            self.results.remove(result)
        except ValueError:
            raise KeyError(result) from None

    def discard(self, result: ResultLike | str) -> None:
        with contextlib.suppress(KeyError):
            self.remove(result)

    def update(self, results: Iterable[ResultLike]) -> None:
        self.results.extend(r for r in results if r not in self.results)

    def clear(self) -> None:
        self.results[:] = []

    # -- state -------------------------------------------------------------------------------

    def _leaves(self) -> list[AsyncResult]:
        out: list[AsyncResult] = []
        for r in self.results:
            if isinstance(r, GroupResult):
                out.extend(r._leaves())
            else:
                out.append(r)
        return out

    def _refresh(self) -> None:
        """Read every unfinished member's record in one round trip (caching the ready ones)."""
        todo = [r for r in self._leaves() if not isinstance(r, EagerResult) and r._cache is None]
        if not todo:
            return
        for r, record in zip(todo, self.app.backend.get_results([r.id for r in todo]), strict=True):
            if record is not None and record.status in states.READY_STATES:
                r._cache = record

    def completed_count(self) -> int:
        """How many members succeeded."""
        self._refresh()
        return sum(1 for r in self._leaves() if r.successful())

    def ready(self) -> bool:
        self._refresh()
        return all(r.ready() for r in self._leaves())

    def successful(self) -> bool:
        self._refresh()
        return all(r.successful() for r in self._leaves())

    def failed(self) -> bool:
        self._refresh()
        return any(r.failed() for r in self._leaves())

    def waiting(self) -> bool:
        return not self.ready()

    # -- values ------------------------------------------------------------------------------

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
            disable_sync_subtasks: bool = True) -> list[Any]:
        """Every member's value in order (a list per nested group) within one ``timeout``."""
        return self.join(timeout=timeout, propagate=propagate)

    def join(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
             callback: Any = None) -> list[Any]:
        self.app.flush(timeout)
        self._refresh()
        deadline = None if timeout is None else time.monotonic() + timeout
        out: list[Any] = []
        for r in self.results:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            try:
                value = r.get(timeout=left, propagate=propagate)
            except ResultTimeout:
                raise ResultTimeout(f"{self!r} not ready after {timeout}s "
                                    f"({self.completed_count()}/{len(self._leaves())} done)") from None
            if callback is not None:
                callback(r.id, value)
            out.append(value)
        return out

    def revoke(self, terminate: bool = False, signal: str = "SIGTERM", **kwargs: Any) -> None:
        self.app.control.revoke([r.id for r in self._leaves()], terminate=terminate, signal=signal)

    def forget(self) -> None:
        for r in self._leaves():
            r.forget()

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[ResultLike]:
        return iter(self.results)

    def __getitem__(self, index: int) -> ResultLike:
        return self.results[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResultSet) and type(other) is type(self) and other.results == self.results

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ResultSet: [{', '.join(r.id for r in self.results)}]>"


class GroupResult(ResultSet):
    """The results of a group (``group(...).apply_async()``), in the group's order."""

    def __init__(self, id: str, results: Sequence[ResultLike], *, app: Celeriac | None = None,
                 parent: ResultLike | None = None) -> None:
        super().__init__(results, app=app)
        self.id = id
        self.parent = parent

    @property
    def children(self) -> list[ResultLike]:
        return self.results

    def forget(self) -> None:
        super().forget()
        self.app.backend.forget_group(self.id)


    # -- storing -----------------------------------------------------------------------------

    def save(self) -> GroupResult:
        """Store the member ids so :meth:`restore` can rebuild this result from the id alone."""
        self.app.backend.save_group(self.id, json.dumps(to_tree(self)).encode())
        return self

    @classmethod
    def restore(cls, id: str, app: Celeriac | None = None) -> GroupResult | None:
        """The group saved under ``id``, or None."""
        app = app or current_app()
        raw = app.backend.get_group(id)
        if raw is None:
            return None
        result = from_tree(json.loads(raw), app)
        return result if isinstance(result, GroupResult) else None

    def delete(self) -> None:
        self.app.backend.forget_group(self.id)

    # -- container ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GroupResult) and other.id == self.id and other.results == self.results

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<GroupResult: {self.id} [{', '.join(r.id for r in self.results)}]>"


def to_tree(result: ResultLike) -> dict[str, Any]:
    """A JSON-able description of a result and its parents (what ``save`` stores)."""
    if isinstance(result, GroupResult):
        node: dict[str, Any] = {"group": result.id, "results": [to_tree(r) for r in result.results]}
    else:
        node = {"id": result.id}
    parent = getattr(result, "parent", None)
    if parent is not None:
        node["parent"] = to_tree(parent)
    return node


def from_tree(node: dict[str, Any], app: Celeriac) -> ResultLike:
    parent = from_tree(node["parent"], app) if node.get("parent") else None
    if "group" in node:
        return GroupResult(node["group"], [from_tree(n, app) for n in node["results"]], app=app, parent=parent)
    result = AsyncResult(node["id"], app=app)
    result.parent = parent  # type: ignore[assignment]
    return result
