"""Results as the caller sees them: ``AsyncResult``, ``EagerResult``, and exception rebuilding.

``get()`` blocks in the transport's ``wait_result``, which wakes on the completion signal
(a Redis pub/sub message, a SQLite change) rather than sleeping in a polling loop.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import importlib
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from celeriac import serialization, states
from celeriac.backends.base import ResultRecord
from celeriac.current import current_app
from celeriac.errors import IncompleteStream, ResultTimeout, TaskError, TaskRevokedError

if TYPE_CHECKING:
    from celeriac.app import Celeriac


def exception_to_dict(exc: BaseException, _depth: int = 0) -> dict[str, Any]:
    """The portable form of an exception (Celery's ``exc_type``/``exc_module``/``exc_message``)."""
    args = [a if isinstance(a, str | int | float | bool | type(None)) else repr(a) for a in exc.args]
    out: dict[str, Any] = {"exc_type": type(exc).__name__, "exc_module": type(exc).__module__, "exc_message": args}
    cause = exc.__cause__
    if cause is not None and cause is not exc and _depth < 3:  # a ChordError's header exception
        out["exc_cause"] = exception_to_dict(cause, _depth + 1)
    return out


#: Modules whose exceptions are rebuilt even before this process imported them (besides
#: every module already in ``sys.modules``). Extend with ``result_exception_modules``-like
#: needs by adding names here; a name read from the store is never imported.
EXCEPTION_MODULES = frozenset({"builtins", "celeriac.errors"})


def exception_from_dict(data: Mapping[str, Any], traceback: str | None = None) -> BaseException:
    """Rebuild an exception: the real type where this process knows it, else :class:`TaskError`.

    The type is looked up only in modules already imported (``sys.modules``) or in
    :data:`EXCEPTION_MODULES`: ``exc_module`` is read from the result store, so importing
    it by name would run whatever module a stranger named.
    """
    exc_type = str(data.get("exc_type", "Exception"))[:200]
    module = str(data.get("exc_module", "builtins"))[:200]
    message = data.get("exc_message", [])
    if not isinstance(message, list | tuple):
        message = [message]
    cls: Any = None
    mod = builtins if module == "builtins" else sys.modules.get(module)
    if mod is None and module in EXCEPTION_MODULES:
        try:
            mod = importlib.import_module(module)
        except Exception:
            mod = None
    if mod is not None and exc_type.isidentifier():
        cls = getattr(mod, exc_type, None)
    exc: BaseException
    if isinstance(cls, type) and issubclass(cls, BaseException) and (
            issubclass(cls, Exception) or cls.__module__ == "celeriac.errors"):  # never a SystemExit
        try:
            exc = cls(*message)
        except Exception:
            exc = TaskError(f"{module}.{exc_type}", " ".join(map(str, message)), traceback)
    else:
        exc = TaskError(f"{module}.{exc_type}", " ".join(map(str, message)), traceback)
    with contextlib.suppress(AttributeError):  # a type with __slots__
        exc.remote_traceback = traceback  # type: ignore[attr-defined]
    cause = data.get("exc_cause")
    if isinstance(cause, Mapping):
        exc.__cause__ = exception_from_dict(cause)
    return exc


class AsyncResult:
    """A handle on a task's state and result, as in Celery."""

    enqueued: bool | None = None
    """``send_task(..., once=True)``: whether this call enqueued the task (None otherwise)."""

    ignored: bool = False
    """The task was sent with ``ignore_result``: ``get()`` returns None at once, as Celery."""

    def __init__(self, id: str, *, app: Celeriac | None = None, task_name: str | None = None,
                 parent: AsyncResult | None = None) -> None:
        if app is None:
            app = current_app()
        self.id = id
        self.task_id = id
        self.app = app
        self.task_name = task_name
        self.parent = parent
        self._cache: ResultRecord | None = None

    # -- reading -----------------------------------------------------------------------------

    def _record(self) -> ResultRecord | None:
        if self._cache is not None:
            return self._cache
        record = self.app.backend.get_result(self.id)
        if record is not None and record.status in states.READY_STATES:
            self._cache = record
        return record

    def _decode(self, record: ResultRecord) -> Any:
        if record.result is None:
            return None
        accept = serialization.accepted(self.app.conf.result_accept_content or self.app.conf.accept_content)
        accept = accept | {serialization.content_type_of(self.app.conf.result_serializer)}
        value = serialization.loads(record.result, record.content_type, accept)
        if record.status in states.EXCEPTION_STATES and isinstance(value, Mapping) and "exc_type" in value:
            return exception_from_dict(value, record.traceback)
        return value

    @property
    def state(self) -> str:
        record = self._record()
        return record.status if record is not None else states.PENDING

    status = state

    @property
    def result(self) -> Any:
        """The return value, the exception, or a custom state's meta."""
        record = self._record()
        return self._decode(record) if record is not None else None

    info = result

    @property
    def traceback(self) -> str | None:
        record = self._record()
        return record.traceback if record is not None else None

    @property
    def date_done(self) -> dt.datetime | None:
        record = self._record()
        if record is None or record.date_done is None:
            return None
        return dt.datetime.fromtimestamp(record.date_done, dt.UTC)

    @property
    def worker(self) -> str | None:
        record = self._record()
        return record.worker if record is not None else None

    @property
    def retries(self) -> int:
        record = self._record()
        return record.retries if record is not None else 0

    @property
    def name(self) -> str | None:
        record = self._record()
        return (record.task if record is not None else None) or self.task_name

    @property
    def children(self) -> list[AsyncResult]:
        record = self._record()
        return [AsyncResult(c, app=self.app) for c in (record.children or [])] if record else []

    def ready(self) -> bool:
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        return self.state == states.FAILURE

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
            disable_sync_subtasks: bool = True) -> Any:
        """Wait for the task to finish and return its value.

        Raises:
            ResultTimeout: not ready within ``timeout`` seconds.
            Exception: the task's own exception (rebuilt) when it failed and ``propagate``.
        """
        if self.ignored:  # no result will ever be stored: Celery returns None at once
            return None
        if self._cache is None:
            self.app.flush(timeout)
        record = self._cache or self.app.backend.wait_result(self.id, timeout)
        if record is None or record.status not in states.READY_STATES:
            raise ResultTimeout(f"task {self.id} not ready after {timeout}s (state {self.state})")
        self._cache = record
        value = self._decode(record)
        if propagate and record.status in states.PROPAGATE_STATES:
            if isinstance(value, BaseException):
                raise value
            raise TaskRevokedError(f"task {self.id} was {record.status.lower()}: {value!r}")
        return value

    wait = get

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple[AsyncResult, Any]]:
        """``(result, value)`` for this result and every task it published (its ``children``),
        breadth first, each waited for with ``get(**kwargs)``, as Celery's ``collect``.

        Raises:
            IncompleteStream: a result is not ready yet (unless ``intermediate``).
        """
        for node in self._iterdeps(intermediate):
            yield node, node.get(**kwargs)

    def _iterdeps(self, intermediate: bool) -> Iterator[AsyncResult]:
        todo: list[AsyncResult] = [self]
        while todo:
            node = todo.pop(0)
            yield node
            if node.ready():
                todo.extend(node.children)
            elif not intermediate:
                raise IncompleteStream(f"task {node.id} is not ready")

    def get_leaf(self) -> Any:
        value = None
        for node in self._iterdeps(False):
            value = node.get()
        return value

    def forget(self) -> None:
        self._cache = None
        self.app.backend.forget(self.id)

    def revoke(self, terminate: bool = False, signal: str = "SIGTERM") -> None:
        self.app.control.revoke(self.id, terminate=terminate, signal=signal)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    def __str__(self) -> str:
        return self.id


class EagerResult(AsyncResult):
    """The result of a task run in the caller (``apply()`` and ``task_always_eager``)."""

    def __init__(self, id: str, value: Any, state: str, traceback: str | None = None, *,
                 app: Celeriac | None = None, task_name: str | None = None) -> None:
        super().__init__(id, app=app, task_name=task_name)
        self._value = value
        self._state = state
        self._traceback = traceback

    @property
    def state(self) -> str:
        return self._state

    status = state

    @property
    def result(self) -> Any:
        return self._value

    info = result

    @property
    def traceback(self) -> str | None:
        return self._traceback

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
            disable_sync_subtasks: bool = True) -> Any:
        if propagate and self._state in states.PROPAGATE_STATES and isinstance(self._value, BaseException):
            raise self._value
        return self._value

    def forget(self) -> None:
        pass


def wait_all(results: list[AsyncResult], timeout: float | None) -> Iterator[Any]:
    """Helper for groups: yields each result's value in order within one overall timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for r in results:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        yield r.get(timeout=left)
