"""The application object: settings, the task registry, transports, and publishing.

``Celeriac`` is what ``Celery`` is to a Celery user: ``app = Celeriac('proj', broker=...)``,
``@app.task``, ``app.send_task``, ``app.conf``, ``app.AsyncResult``, ``app.control``.
It creates its transports lazily (and anew in a forked child), so importing a tasks
module never opens a connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from celeriac import config as _config
from celeriac import current as _current
from celeriac import serialization
from celeriac import signals as _signals
from celeriac.backends import create as create_backend
from celeriac.backends.base import Backend, Outgoing, QueueStats, WorkerInfo
from celeriac.beat.registry import Schedules
from celeriac.canvas.builtins import register_builtins
from celeriac.control import Control
from celeriac.current import current_app
from celeriac.errors import ConfigurationError, ConnectionLost, NotRegistered
from celeriac.events import task_sent
from celeriac.lookup import TaskInfo, task_info
from celeriac.message import Message, new_id, to_iso
from celeriac.producer import BufferedProducer
from celeriac.request import add_child, current_request
from celeriac.result import AsyncResult
from celeriac.routing import Router, queues_from
from celeriac.task import Task, create_task

#: The longest a producer retries one publish call (``task_publish_retry_policy`` aside): a
#: retry after a lost reply is recognised by the broker for a little longer than this
#: (``PUBLISH_MARKER_MS`` in backends/redis.py), so that it never enqueues twice.
PUBLISH_RETRY_WINDOW_S = 25.0

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Where the embedded SQLite broker of an unnamed app lives when no ``broker_url`` is
#: configured; a named app (``Celeriac("proj")``) gets ``proj.db`` in the same directory, so
#: that two projects on one machine never share (and dead-letter) each other's tasks.
DEFAULT_SQLITE_PATH = os.path.join(os.path.expanduser("~"), ".local", "share", "celeriac", "celeriac.db")


def default_sqlite_path(main: str | None) -> str:
    """The embedded SQLite file of an app named ``main`` (see :data:`DEFAULT_SQLITE_PATH`)."""
    if not main or main == "__main__":
        return DEFAULT_SQLITE_PATH
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in main).strip(".") or "celeriac"
    return os.path.join(os.path.dirname(DEFAULT_SQLITE_PATH), f"{safe}.db")

FLUSH_ON_CLOSE_S = 10.0  #: how long ``close()`` waits for buffered messages

_shared_tasks: list[Callable[[Celeriac], Any]] = []
_apps: weakref.WeakSet[Celeriac] = weakref.WeakSet()  # every live app (``shared_task`` binds to each)
_announced: set[str] = set()  # default broker paths already logged by this process (tree)


class Celeriac:
    """A celeriac application.

    Args:
        main: the name of the main module (used to name tasks defined in ``__main__``).
        broker: the broker URL (overrides ``broker_url``).
        backend: the result backend URL (overrides ``result_backend``); ``'rpc'`` or None
            means results are kept by the broker's own store.
        config_source: a module, object, dict or dotted module path with settings.
        include: modules a worker imports so their tasks are registered.
        **settings: more settings, by name.
    """

    def __init__(
        self,
        main: str | None = None,
        *,
        broker: str | None = None,
        backend: str | None = None,
        config_source: Any = None,
        include: Sequence[str] | None = None,
        set_as_current: bool = True,
        **settings: Any,
    ) -> None:
        self.main = main
        self.conf = _config.Settings()
        self.tasks: dict[str, Task] = {}
        self._broker: Backend | None = None
        self._results: Backend | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._router: Router | None = None
        self._checked = False
        self._producer: BufferedProducer | None = None
        self._autodiscover: list[tuple[Any, str]] = []
        self.hostname = f"celeriac@{socket.gethostname()}"
        if config_source is not None:
            self.config_from_object(config_source)
        config_file = os.environ.get(f"{_config.ENV_PREFIX}CONFIG_FILE")
        if config_file:
            self.config_from_yaml(config_file)
        env = _config.values_from_env(os.environ)
        if env:
            _config.apply(self.conf, env, source="environment")
        if settings:
            _config.apply(self.conf, settings, source="Celeriac()")
        if broker is not None:
            self.conf.broker_url = broker
        if backend is not None:
            self.conf.result_backend = backend
        if include:
            self.conf.include = [*self.conf.include, *include]
        if set_as_current:
            _current.set_current(self)
        register_builtins(self)  # the canvas's own tasks (map, starmap, chunks, ...)
        for register in _shared_tasks:
            register(self)
        _apps.add(self)

    # -- configuration -----------------------------------------------------------------------

    def config_from_object(self, obj: Any, *, namespace: str | None = None) -> None:
        """Load settings from a module, object, dict or dotted path (Celery's method)."""
        values = _config.values_from_object(obj)
        if namespace:
            prefix = namespace.upper() + "_"
            values = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in values.items()
                      if k.startswith(prefix) or not k.isupper()}
        _config.apply(self.conf, values, source=repr(getattr(obj, "__name__", obj)))
        self._invalidate()

    def config_from_yaml(self, path: str | os.PathLike[str]) -> None:
        """Load settings from a YAML file."""
        _config.apply(self.conf, _config.values_from_yaml(path), source=os.fspath(path))
        self._invalidate()

    def _invalidate(self) -> None:
        self._router = None
        self._checked = False

    def check(self) -> None:
        """Validate the settings (called at start-up); errors name the key."""
        if not self._checked:
            _config.validate(self.conf)
            self._checked = True

    @property
    def router(self) -> Router:
        if self._router is None:
            queues = queues_from(self.conf.task_queues, self.conf.task_default_queue)
            self._router = Router(self.conf.task_routes, queues, self.conf.task_default_queue)
        return self._router

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.conf.timezone or "UTC")

    # -- transports --------------------------------------------------------------------------

    @property
    def broker_url(self) -> str:
        url = self.conf.broker_url
        if not url:
            return f"sqlite:///{default_sqlite_path(self.main)}"
        return url

    @property
    def result_url(self) -> str:
        url = self.conf.result_backend
        if not url or url in ("rpc", "rpc://", "broker"):
            return self.broker_url
        return url

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            # A forked child must not share its parent's sockets.
            self._broker = self._results = None
            self._pid = os.getpid()

    @property
    def broker(self) -> Backend:
        """The broker transport (created on first use)."""
        self._check_fork()
        if self._broker is None:
            with self._lock:
                if self._broker is None:
                    self.check()
                    path = default_sqlite_path(self.main)
                    if not self.conf.broker_url and path not in _announced:
                        # Once per process tree: forked children inherit the set.
                        _announced.add(path)
                        logger.info("no broker_url configured: using the embedded SQLite broker at %s "
                                    "(this app's own file: it is named after the app)", path)
                    self._broker = create_backend(self.broker_url, self.conf)
        return self._broker

    @property
    def backend(self) -> Backend:
        """The result store (the broker itself unless ``result_backend`` names another)."""
        self._check_fork()
        if self._results is None:
            if self.result_url == self.broker_url:
                self._results = self.broker
            else:
                with self._lock:
                    if self._results is None:
                        self._results = create_backend(self.result_url, self.conf, "result")
        return self._results

    @property
    def results_with_broker(self) -> bool:
        """Results are written in the same atomic step as acks."""
        return self.backend is self.broker

    def close(self) -> None:
        if self._producer is not None and self._producer.alive:
            self._producer.close(FLUSH_ON_CLOSE_S)
        self._producer = None
        for b in {id(x): x for x in (self._broker, self._results) if x is not None}.values():
            b.close()
        self._broker = self._results = None

    # -- tasks -------------------------------------------------------------------------------

    @overload
    def task(self, fun: Callable[..., Any], /) -> Task: ...

    @overload
    def task(self, /, **options: Any) -> Callable[[Callable[..., Any]], Task]: ...

    def task(self, fun: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(name=..., bind=True)``."""
        def decorate(f: Callable[..., Any]) -> Task:
            task = create_task(self, f, **options)
            self.tasks[task.name] = task
            return task

        if fun is not None and callable(fun):
            return decorate(fun)
        return decorate

    def register_task(self, task: Task) -> Task:
        self.tasks[task.name] = task
        task.bind_app(self)
        return task

    def task_name_for(self, fun: Callable[..., Any]) -> str:
        module = fun.__module__
        if module == "__main__" and self.main:
            module = self.main
        return f"{module}.{fun.__qualname__}"

    def bugreport(self) -> str:
        """What to paste into a bug report (Celery's ``app.bugreport()``, ``celeriac report``):
        versions, platform, transports (passwords masked) and the settings that differ from
        the defaults."""
        import platform
        from importlib import metadata

        def version(dist: str) -> str:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                return "not installed"

        def masked(url: str) -> str:
            if "://" in url and "@" in url:
                scheme, rest = url.split("://", 1)
                return f"{scheme}://********@{rest.rsplit('@', 1)[1]}"
            return url

        defaults = _config.Settings()
        changed = []
        for name in sorted(_config.KNOWN):
            value = getattr(self.conf, name)
            if value != getattr(defaults, name):
                secret = any(h in name for h in ("url", "password", "secret", "token", "backend"))
                changed.append(f"{name}: {masked(value) if secret and isinstance(value, str) else value!r}")
        lines = [
            f"software -> celeriac:{version('celeriac')} redis-py:{version('redis')} py:{platform.python_version()}",
            f"platform -> system:{platform.system()} arch:{platform.machine()} imp:{platform.python_implementation()}",
            f"app -> {self.main or '__main__'} ({len([n for n in self.tasks if not n.startswith('celeriac.')])} tasks)",
            f"settings -> transport:{self.broker_url.split(':', 1)[0]} results:{self.result_url.split(':', 1)[0]}",
            f"broker_url: {masked(self.broker_url)!r}",
            f"result_backend: {masked(self.result_url)!r}",
            *sorted(c for c in changed if not c.startswith(("broker_url:", "result_backend:"))),
        ]
        return "\n".join(lines) + "\n"

    def autodiscover_tasks(self, packages: Sequence[str] | Callable[[], Sequence[str]] | None = None,
                           related_name: str = "tasks", force: bool = False) -> None:
        """Celery's: import ``<package>.<related_name>`` of each package (Django's
        ``INSTALLED_APPS``, or a callable returning them) so their tasks register. Lazy, as
        Celery's: done when a worker starts (``import_modules``), or now with ``force``. A
        package without that module is skipped; an error inside the module is raised."""
        self._autodiscover.append((packages, related_name))
        if force:
            self._discover(packages, related_name)

    def _discover(self, packages: Sequence[str] | Callable[[], Sequence[str]] | None, related_name: str) -> None:
        import importlib

        if packages is None:
            try:
                from django.conf import settings

                packages = list(settings.INSTALLED_APPS)
            except ImportError:
                packages = []
        names = packages() if callable(packages) else packages
        for package in names:
            module = f"{package}.{related_name}"
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # the package is missing, or the module failed inside
                    raise

    def import_modules(self) -> None:
        """Import ``imports``/``include`` (and ``autodiscover_tasks``' packages) so their tasks
        register (done by workers)."""
        import importlib

        for name in [*self.conf.imports, *self.conf.include]:
            importlib.import_module(name)
        for packages, related_name in self._autodiscover:
            self._discover(packages, related_name)

    # -- publishing --------------------------------------------------------------------------

    def send_task(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult:
        """Publish a task by name (it need not be registered here).

        With ``once=True`` (and a ``task_id``), the task is enqueued only if that id was not
        enqueued before within the window of :meth:`enqueue_once`; the returned result's
        ``enqueued`` says whether it was."""
        if options.pop("once", False):
            task_id = options.pop("task_id", None)
            if not task_id:
                raise ValueError("send_task(once=True) needs a task_id")
            enqueued = self.enqueue_once(name, args, kwargs, task_id=task_id, **options)
            result = AsyncResult(task_id, app=self, task_name=name)
            result.enqueued = enqueued
            return result
        message, outgoing = self.prepare(name, args, kwargs, options, task=self.tasks.get(name))
        self.publish([outgoing], once=bool(options.get("task_id")))
        add_child(message.id)
        result = AsyncResult(message.id, app=self, task_name=name)
        result.ignored = message.ignore_result
        return result

    def enqueue_once(
        self,
        name: str,
        args: Sequence[Any] | None = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        task_id: str,
        **options: Any,
    ) -> bool:
        """Enqueue task ``name`` under ``task_id`` unless that id was already enqueued.

        At most once for as long as its result is kept: the id is refused while it is
        queued, delayed or running (for ``result_expires`` seconds after this call, plus
        its countdown), and after it finished for as long as the result is kept (and as
        long again: the marker outlives the record, see docs/guarantees.md, "Enqueue
        once"); across worker restarts, since the marker lives in the broker. The check and
        the publish are one atomic step, so racing producers enqueue it once. Safe to retry.

        Args:
            name: the task name (need not be registered in this process).
            task_id: the id (required: derive it from what must run once).
            **options: as ``apply_async``: queue, priority, countdown, eta, expires,
                time_limit, soft_time_limit, headers, serializer...

        Returns:
            True if enqueued now, False if the id was already enqueued (or recorded).
        """
        if not task_id:
            raise ValueError("enqueue_once needs a task_id")
        _message, outgoing = self.prepare(name, args, kwargs, {**options, "task_id": task_id},
                                          task=self.tasks.get(name))
        events: list[dict[str, Any]] = []
        if self.conf.task_send_sent_event and self.conf.worker_send_task_events:
            events.append(task_sent(outgoing.task_id, outgoing.task, outgoing.queue, outgoing.eta))
        keep = self.conf.result_expires
        done = self._with_publish_retries(
            1, lambda: self.broker.enqueue_once([outgoing], events, keep))
        return done[0]

    # -- what operators and autoscalers read ---------------------------------------------------

    def lookup_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskInfo]:
        """What is known of each task id, in one round trip (two when results are kept
        apart from the broker): presence ``recorded``, ``queued``, ``expired`` or
        ``unknown`` (see :mod:`celeriac.lookup`), state, decoded result or error, worker,
        queue, retries, timestamps. ``AsyncResult.state`` still says PENDING for all of
        the unrecorded cases, as Celery does."""
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        traces = self.broker.lookup(ids)
        if not self.results_with_broker:
            records = self.backend.get_results(ids)
            traces = [replace(t, record=r) for t, r in zip(traces, records, strict=True)]
        conf = self.conf
        accept = serialization.accepted(conf.result_accept_content or conf.accept_content)
        accept = accept | {serialization.content_type_of(conf.result_serializer)}
        return {t.task_id: task_info(t, accept) for t in traces}

    def queue_stats(self, queues: Sequence[str] | None = None) -> dict[str, QueueStats]:
        """Depth figures of these queues (None: every known queue) in one round trip,
        read from the broker: no worker needs to run (see docs/observability.md)."""
        names = self.broker.known_queues() if queues is None else (
            [queues] if isinstance(queues, str) else list(queues))
        return self.broker.queue_stats_many(names)

    def live_workers(self) -> list[WorkerInfo]:
        """Every live worker process: id, hostname, queues, pool, concurrency, in flight,
        the task ids it runs now (current to a fraction of a second), last heartbeat."""
        return self.broker.live_workers()

    def read_events(self, after_id: str = "0", count: int = 1000,
                    block_s: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """Events newer than ``after_id`` ("0": the oldest kept, "$": only new ones), oldest
        first, as ``(id, event)`` pairs; waits up to ``block_s`` when none is there yet.
        Resume from the last id returned (docs/protocol.md, "Events")."""
        return self.broker.read_events(after_id, count, block_s)

    def last_event_id(self) -> str:
        """The id of the newest event: ``read_events(app.last_event_id())`` returns only
        events written after this call."""
        return self.broker.last_event_id()

    def prepare(
        self,
        name: str,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        *,
        task: Task | None = None,
    ) -> tuple[Message, Outgoing]:
        """Build the message and its encoded form for one call (no I/O)."""
        conf = self.conf
        now = time.time()
        task_id = options.get("task_id") or new_id()
        eta_epoch: float | None = None
        countdown = options.get("countdown")
        eta = options.get("eta")
        if countdown is not None:
            eta_epoch = now + float(countdown)
        elif eta is not None:
            eta_epoch = self.to_epoch(eta, "eta")
        expires = options.get("expires", task.expires if task is not None else None)
        expires_iso: str | None = None
        if expires is not None:
            if isinstance(expires, int | float):
                expires_iso = to_iso(dt.datetime.fromtimestamp(now + float(expires), dt.UTC))
            elif isinstance(expires, dt.timedelta):
                expires_iso = to_iso(dt.datetime.fromtimestamp(now + expires.total_seconds(), dt.UTC))
            else:
                expires_iso = to_iso(dt.datetime.fromtimestamp(self.to_epoch(expires, "expires"), dt.UTC))
        priority = options.get("priority")
        if priority is None and task is not None:
            priority = task.priority
        if priority is None:
            priority = conf.task_default_priority
        if priority is not None and not (isinstance(priority, int) and 0 <= priority <= 9):
            raise ValueError(f"priority must be an integer 0-9, got {priority!r}")
        queue = self.router.route(
            name, args=args or (), kwargs=kwargs or {}, options=options, task=task,
            task_queue=task.queue if task is not None else None,
        )
        parent = current_request()
        parent_id = options.get("parent_id") or (parent.id if parent is not None else None)
        root_id = options.get("root_id") or (parent.root_id if parent is not None else None) or task_id
        time_limit = options.get("time_limit", task.time_limit if task is not None else None)
        soft_limit = options.get("soft_time_limit", task.soft_time_limit if task is not None else None)
        ignore_result = options.get("ignore_result")
        if ignore_result is None:
            ignore_result = task.ignore_result if task is not None else conf.task_ignore_result
        message = Message(
            task=name,
            id=task_id,
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            eta=to_iso(dt.datetime.fromtimestamp(eta_epoch, dt.UTC)) if eta_epoch is not None else None,
            expires=expires_iso,
            retries=int(options.get("retries", 0)),
            root_id=root_id,
            parent_id=parent_id,
            group=options.get("group_id"),
            group_index=options.get("group_index"),
            timelimit=(time_limit, soft_limit),
            callbacks=_sig_list(options.get("link")),
            errbacks=_sig_list(options.get("link_error")),
            chain=options.get("chain"),
            chord=options.get("chord"),
            priority=priority,
            queue=queue,
            headers=options.get("headers"),
            ignore_result=bool(ignore_result),
        )
        serializer = options.get("serializer") or (task.serializer if task is not None else None) or conf.task_serializer
        fields = message.to_dict()
        if _signals.before_task_publish.receivers:
            headers: dict[str, Any] = dict(message.headers or {})
            _signals.before_task_publish.send(name, body=fields, exchange="", routing_key=queue, headers=headers,
                                              properties={"priority": priority}, declare=[],
                                              retry_policy=conf.task_publish_retry_policy)
            if headers != (message.headers or {}):  # a receiver added to them (trace context...)
                message = replace(message, headers=headers)
                fields = message.to_dict()
        content_type, body = serialization.dumps(fields, serializer)
        return message, Outgoing(queue=queue, task_id=task_id, content_type=content_type, body=body,
                                 priority=priority, eta=eta_epoch, task=name)

    def to_epoch(self, value: Any, name: str) -> float:
        """An ``eta``/``expires`` datetime (naive: UTC if ``enable_utc`` else ``timezone``)."""
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if not isinstance(value, dt.datetime):
            raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC if self.conf.enable_utc else self.timezone)
        return float(value.timestamp())

    def publish(self, messages: Sequence[Outgoing], *, once: bool = False) -> None:
        """Publish (through the send buffer when ``task_publish_buffer`` is on).

        ``once``: the task ids were chosen by the caller; a message whose id is already
        queued, delayed or running (within ``task_dedup_window``) is not enqueued again.
        """
        if once and self.conf.task_dedup_window > 0:
            self.publish_now(messages, once=True)
            return
        if self.conf.task_publish_buffer:
            producer = self._producer
            if producer is None or not producer.alive:
                _ = self.broker  # connect here, not in the sender thread (maybe at exit)
                producer = self._producer = BufferedProducer(self.publish_now)
            producer.submit(messages)
            return
        self.publish_now(messages)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered message was published (a no-op when not buffering)."""
        producer = self._producer
        if producer is None or not producer.alive:
            return True
        return producer.flush(timeout)

    def publish_now(self, messages: Sequence[Outgoing], *, once: bool = False) -> None:
        """Publish with the retries of ``task_publish_retry_policy``; returns once written.

        After the last retry, raises :class:`ConnectionLost` naming the policy."""
        window = self.conf.task_dedup_window if once else 0.0
        broker = self.broker

        def write() -> None:
            if window > 0:
                broker.publish_once(messages, window)
            elif self.conf.task_send_sent_event and self.conf.worker_send_task_events:
                # task-sent events go in the same round trip as the messages
                broker.publish_with_events(messages, [task_sent(m.task_id, m.task, m.queue, m.eta)
                                                      for m in messages])
            else:
                broker.publish(messages)

        self._with_publish_retries(len(messages), write)
        if _signals.after_task_publish.receivers:
            for m in messages:
                try:
                    fields = serialization.loads(m.body, m.content_type, frozenset({m.content_type}))
                except Exception:
                    fields = None
                headers = fields.get("headers") if isinstance(fields, dict) else None
                _signals.after_task_publish.send(m.task, body=fields, exchange="", routing_key=m.queue,
                                                 headers=headers or {})

    def _with_publish_retries(self, n: int, write: Callable[[], T]) -> T:
        """``write()``, retried on :class:`ConnectionLost` as ``task_publish_retry_policy`` says."""
        policy = self.conf.task_publish_retry_policy
        retries = int(policy.get("max_retries", 3)) if self.conf.task_publish_retry else 0
        delay = float(policy.get("interval_start", 0.0))
        step = float(policy.get("interval_step", 0.2))
        cap = float(policy.get("interval_max", 0.2))
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                return write()
            except ConnectionLost as exc:
                if attempt < retries and time.monotonic() - started > PUBLISH_RETRY_WINDOW_S:
                    # The broker's marker of the first attempt may be gone by now, and a
                    # retry could then enqueue the message twice: say so instead.
                    raise ConnectionLost(f"could not confirm the publish of {n} message(s) within "
                                         f"{PUBLISH_RETRY_WINDOW_S:.0f}s; the last attempt may have been "
                                         f"written: {exc}") from exc
                if attempt >= retries:
                    raise ConnectionLost(f"could not publish {n} message(s) after {attempt} "
                                         f"retr{'y' if attempt == 1 else 'ies'} (task_publish_retry_policy): "
                                         f"{exc}") from exc
                attempt += 1
                logger.warning("broker unreachable, retrying publish in %.2fs (%d/%d)", delay, attempt, retries)
                time.sleep(delay + random.uniform(0, delay / 10 if delay else 0))
                delay = min(cap, delay + step)

    # -- results and control -----------------------------------------------------------------

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult:
        return AsyncResult(task_id, app=self, **kwargs)

    @property
    def control(self) -> Control:
        return Control(self)

    @property
    def schedules(self) -> Schedules:
        """The periodic-task registry in the broker (add/update/pause/remove at run time)."""
        return Schedules(self)

    def get_task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise NotRegistered(name) from None

    def __repr__(self) -> str:
        return f"<Celeriac {self.main or '__main__'} broker={self.conf.broker_url!r}>"


def _sig_list(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if hasattr(item, "to_dict"):
            out.append(item.to_dict())
        elif isinstance(item, Mapping):
            out.append(dict(item))
        else:
            raise TypeError(f"link/link_error must be signatures, got {item!r}")
    return out


def shared_task(*args: Any, **options: Any) -> Any:
    """Define a task that binds to every app created (as Celery's ``shared_task``)."""

    def decorate(fun: Callable[..., Any]) -> Any:
        holder: dict[str, Task] = {}

        def register(app: Celeriac) -> None:
            holder["task"] = app.task(**options)(fun)

        _shared_tasks.append(register)
        for app in list(_apps):  # apps made before the definition too (Celery's finalize)
            register(app)
        register(current_app())
        return holder["task"]

    if len(args) == 1 and callable(args[0]) and not options:
        return decorate(args[0])
    return decorate


_current.set_default_factory(lambda: Celeriac("default"))

__all__ = ["Celeriac", "ConfigurationError", "current_app", "shared_task"]
