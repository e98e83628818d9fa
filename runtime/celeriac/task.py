"""Tasks: the ``@app.task`` decorator's product, and the request context a task runs in.

A task is an instance of a class made per function (as in Celery), so ``base=`` classes
can override ``on_success``/``on_failure``/``on_retry``/``after_return``. Calling the task
runs the function here; ``delay``/``apply_async`` publish it; ``apply`` runs it eagerly.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac import inline, pydantic_args, states
from celeriac.bulk import publish_many
from celeriac.canvas import Signature, chunks, xmap, xstarmap
from celeriac.errors import ConfigurationError, MaxRetriesExceededError, Replaced, Retry
from celeriac.request import Context, add_child, current_request, pop_request, push_request
from celeriac.result import AsyncResult, EagerResult

if TYPE_CHECKING:
    from celeriac.app import Celeriac


class Task:
    """Base class of every task. Class attributes are the task's options."""

    name: str = ""
    app: Celeriac
    typing: bool = True
    bind: bool = False
    queue: str | None = None
    priority: int | None = None
    serializer: str | None = None
    acks_late: bool | None = None
    ignore_result: bool = False
    track_started: bool | None = None
    max_retries: int | None = 3
    default_retry_delay: float = 180.0
    autoretry_for: tuple[type[BaseException], ...] = ()
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    retry_kwargs: Mapping[str, Any] = {}
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600.0
    retry_jitter: bool = True
    rate_limit: str | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None
    expires: float | dt.datetime | None = None
    throws: tuple[type[BaseException], ...] = ()
    reject_on_worker_lost: bool | None = None
    store_errors_even_if_ignored: bool | None = None
    """Accepted for Celery: celeriac stores failures even when results are ignored."""
    acks_on_failure_or_timeout: bool = True
    """With ``acks_late``: False dead-letters the message of a task that failed or timed out
    (its FAILURE still recorded) instead of acking it, as Celery rejects it."""
    pydantic: bool = False
    """Validate arguments annotated with Pydantic models, dump a returned model (Celery 5.5)."""
    pydantic_strict: bool = False
    pydantic_context: Mapping[str, Any] | None = None
    pydantic_dump_kwargs: Mapping[str, Any] | None = None
    is_async: bool = False
    _signature_cache: inspect.Signature | None = None

    run: Callable[..., Any]

    def __init__(self) -> None:
        if not hasattr(self, "run"):
            raise TypeError(f"task {type(self).__name__} has no run()")

    def bind_app(self, app: Celeriac) -> None:
        self.app = app

    # -- calling -----------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.bind:
            return self.run(self, *args, **kwargs)
        return self.run(*args, **kwargs)

    @property
    def request(self) -> Context:
        return current_request() or Context(called_directly=True, task=self.name)

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Publish a call with these arguments (``apply_async(args, kwargs)``)."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Publish a call. Options: ``countdown, eta, expires, queue, priority, task_id,
        headers, serializer, link, link_error, time_limit, soft_time_limit, ignore_result``."""
        if self.app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        if self.typing:
            self._check_arguments(args or (), kwargs or {})
        message, outgoing = self.app.prepare(self.name, args, kwargs, options, task=self)
        self.app.publish([outgoing], once=bool(options.get("task_id")))
        add_child(message.id)
        result = AsyncResult(message.id, app=self.app, task_name=self.name)
        result.ignored = message.ignore_result
        return result

    def apply_many(
        self,
        calls: Iterable[Sequence[Any]],
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[AsyncResult]:
        """Publish one call per argument list in ``calls`` (all with ``kwargs`` and the
        options of :meth:`apply_async`, except ``task_id``), in batched round trips.

        The bulk form of ``delay``: messages are built from one template and written a
        batch at a time (see :mod:`celeriac.bulk`); returns once all are written. If a
        batch cannot be written, raises after the retries of ``task_publish_retry_policy``;
        the batches before it were published.
        """
        if options.get("task_id"):
            raise ValueError("apply_many() gives every call its own id; task_id is not accepted")
        calls = [tuple(args) for args in calls]
        if self.app.conf.task_always_eager:
            return [self.apply(args, kwargs, **options) for args in calls]
        if self.typing:  # a call binds or not by its number of arguments: check each once
            for arity in {len(args) for args in calls}:
                self._check_arguments(next(a for a in calls if len(a) == arity), kwargs or {})
        ids = publish_many(self.app, self, calls, kwargs, options)
        return [AsyncResult(task_id, app=self.app, task_name=self.name) for task_id in ids]

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Celery 5.4's Django helper: publish once the current database transaction commits
        (``django.db.transaction.on_commit``), so a worker never reads rows not yet visible;
        published at once outside a transaction or without Django. Returns None (the id is
        not known before the commit), as Celery's."""
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                              **options: Any) -> None:
        """``apply_async`` once the current Django transaction commits (see ``delay_on_commit``)."""
        def publish() -> None:
            self.apply_async(args, kwargs, **options)

        try:
            from django.db import transaction
        except ImportError:
            publish()
            return
        transaction.on_commit(publish)

    def delay_many(self, *calls: Sequence[Any]) -> list[AsyncResult]:
        """``apply_many(calls)``: ``add.delay_many((1, 2), (3, 4))`` publishes two calls."""
        return self.apply_many(calls)

    def apply(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> EagerResult:
        """Run the task here and now (eager); returns an :class:`EagerResult`."""
        return inline.run_eagerly(self, list(args or ()), dict(kwargs or {}), options)

    def _check_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        sig = type(self)._signature_cache
        if sig is None:
            try:
                sig = inspect.signature(self.run)
            except (TypeError, ValueError):
                return
            type(self)._signature_cache = sig
        try:
            if self.bind:
                sig.bind(self, *args, **kwargs)
            else:
                sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc}") from None

    # -- inside a running task -----------------------------------------------------------------

    def update_state(self, task_id: str | None = None, state: str | None = None, meta: Any = None) -> None:
        """Record a state (e.g. ``PROGRESS`` with ``meta``) visible to ``AsyncResult`` at once."""
        inline.store_state(self, task_id or self.request.id, state or states.PENDING, meta)

    def retry(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: dt.datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Retry this call later: raises :class:`Retry` (record RETRY, republish with a delay).

        Raises ``exc`` (or :class:`MaxRetriesExceededError`) once ``max_retries`` is reached.
        """
        request = self.request
        limit = self.max_retries if max_retries is None else max_retries
        if request.called_directly:
            raise exc if exc is not None else RuntimeError("retry() called outside of a worker")
        if limit is not None and request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{request.args} kwargs:{request.kwargs}"
            )
        when: float
        if eta is not None:
            when = max(0.0, self.app.to_epoch(eta, "eta") - dt.datetime.now(dt.UTC).timestamp())
        elif countdown is not None:
            when = float(countdown)
        else:
            when = float(self.default_retry_delay)
        err = Retry(exc=exc, when=when, args_override=args, kwargs_override=kwargs, options=options)
        if throw:
            raise err
        return err

    def replace(self, sig: Signature) -> Any:
        """Replace this task with ``sig`` (a task, chain, group or chord), which inherits its
        id, its ``link``/``link_error`` callbacks, its place in a group or chord and the rest
        of its chain, as Celery's ``replace``. Ends this task (raises :class:`Replaced`; the
        replacement is published in the same atomic step as this task's ack). Eagerly, runs
        ``sig`` here and returns its value.

        Raises:
            ConfigurationError: ``sig`` is already part of a chord, or is an empty chain.
        """
        from celeriac.canvas import chain, chord, group
        from celeriac.canvas.builtins import ACCUMULATE_TASK
        from celeriac.canvas.signature import Lineage

        request = self.request
        if "chord" in sig.options:
            raise ConfigurationError("a signature replacing a task must not be part of a chord")
        if isinstance(sig, chain) and not sig.tasks:
            raise ConfigurationError("cannot replace a task with an empty chain")
        work: Signature = sig.clone()
        if isinstance(work, group):  # Celery: group | accumulate, so the value is the list
            work = chord(work, self.app.tasks[ACCUMULATE_TASK].s(index=0), app=self.app)
        if request.is_eager or request.called_directly:
            return work.apply().get()
        for cb in request.callbacks or ():
            work.link(Signature.from_dict(cb, self.app))
        for eb in request.errbacks or ():
            work.link_error(Signature.from_dict(eb, self.app))
        extra: dict[str, Any] = {}
        if request.chord:
            extra["chord"] = request.chord
        if request.group:
            extra.update(group_id=request.group, group_index=request.group_index)
        if extra:
            work = work.with_extra(extra)
        work.freeze(request.id)
        if request.chain:
            work = chain(work, *(Signature.from_dict(step, self.app) for step in request.chain), app=self.app)
        lineage = Lineage(parent_id=request.id, root_id=request.root_id or request.id)
        raise Replaced(work.build(self.app, (), lineage, {}))

    def add_to_chord(self, sig: Signature, lazy: bool = False) -> Any:
        """Add ``sig`` to the chord whose header this task belongs to, as Celery's
        ``add_to_chord``: the chord waits for one more result, ``sig``'s, which becomes the
        next slot of the header's result list (after the existing ones; added members count
        in the order they were added). Returns ``sig``'s :class:`AsyncResult`, or with
        ``lazy=True`` the prepared signature, already counted, for the caller to publish.

        Raises:
            ValueError: this task is not a member of a chord (or runs eagerly).
        """
        request = self.request
        chord_info = request.chord
        if not chord_info or request.is_eager or request.called_directly:
            raise ValueError("Current task is not member of any chord")
        group_id = str(chord_info["id"])
        base = int(chord_info["size"]) - int(chord_info.get("added", 0))
        # counted before the current task settles, so the chord cannot complete without it
        added = self.app.broker.grow_chord(group_id)
        index = base + added - 1
        member = {**chord_info, "size": base + added, "index": index, "added": added}
        work = sig.clone().set(chord=member, group_id=request.group or group_id, group_index=index,
                               root_id=request.root_id or request.id)
        work.freeze()
        return work if lazy else work.apply_async()

    # -- hooks (override in a base class) --------------------------------------------------------

    def before_start(self, task_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Called before the task runs."""

    def on_success(self, retval: Any, task_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Called when the task returned."""

    def on_failure(self, exc: BaseException, task_id: str, args: Sequence[Any],
                   kwargs: Mapping[str, Any], einfo: str) -> None:
        """Called when the task failed for good."""

    def on_retry(self, exc: BaseException, task_id: str, args: Sequence[Any],
                 kwargs: Mapping[str, Any], einfo: str) -> None:
        """Called when the task is going to be retried."""

    def after_return(self, status: str, retval: Any, task_id: str, args: Sequence[Any],
                     kwargs: Mapping[str, Any], einfo: str | None) -> None:
        """Called after any outcome."""

    # -- canvas and results ----------------------------------------------------------------------

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        return Signature(self.name, args, kwargs, app=self.app)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        return Signature(self.name, args, kwargs, app=self.app, immutable=True)

    def signature(self, args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                  **options: Any) -> Signature:
        return Signature(self.name, tuple(args or ()), dict(kwargs or {}), options=options, app=self.app)

    subtask = signature

    def map(self, it: Any) -> Signature:
        """One task calling this task's function on each item (Celery's ``task.map``)."""
        return xmap(self.s(), it, app=self.app)

    def starmap(self, it: Any) -> Signature:
        """One task calling this task's function with each item unpacked as arguments."""
        return xstarmap(self.s(), it, app=self.app)

    def chunks(self, it: Any, n: int) -> Any:
        """Split ``it`` into ``starmap`` tasks of ``n`` items each (``.group()`` for the group)."""
        return chunks(self.s(), it, n, app=self.app)

    def AsyncResult(self, task_id: str) -> AsyncResult:
        return AsyncResult(task_id, app=self.app, task_name=self.name)

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"


def create_task(app: Celeriac, fun: Callable[..., Any], *, base: type[Task] | None = None,
                name: str | None = None, **options: Any) -> Task:
    """Make the task class for ``fun`` (one class per task, as Celery) and instantiate it."""
    base = base or Task
    unknown = [k for k in options if not hasattr(base, k)]
    if unknown:
        raise TypeError(f"unknown task option(s) {unknown} for {fun.__qualname__}")
    task_name = name or app.task_name_for(fun)
    run = fun
    if options.get("pydantic", base.pydantic):
        run = pydantic_args.wrap(fun, task_name, strict=bool(options.get("pydantic_strict", base.pydantic_strict)),
                                 context=options.get("pydantic_context", base.pydantic_context),
                                 dump_kwargs=options.get("pydantic_dump_kwargs", base.pydantic_dump_kwargs),
                                 app=app)
    attrs: dict[str, Any] = {
        "name": task_name,
        "run": staticmethod(run),
        "__doc__": fun.__doc__,
        "__module__": fun.__module__,
        "__wrapped__": fun,
        "is_async": inspect.iscoroutinefunction(fun),
        **options,
    }
    for key in ("autoretry_for", "dont_autoretry_for", "throws"):
        if key in attrs and not isinstance(attrs[key], tuple):
            attrs[key] = tuple(attrs[key])
    cls = type(fun.__name__, (base,), attrs)
    task: Task = cls()
    task.bind_app(app)
    return task


__all__ = ["Context", "Task", "create_task", "current_request", "pop_request", "push_request"]
