"""Queue declarations and the choice of a task's queue, the way Celery routes.

Pure: no I/O. Precedence: ``queue=`` given to ``apply_async`` > ``task_routes`` > the
task's own ``queue`` option > ``task_default_queue``. A route may name a ``queue``, or
only a ``routing_key`` (then the queue declared with that routing key is chosen, as an
AMQP direct exchange would), or be a plain queue name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celeriac.errors import ConfigurationError


@dataclass(frozen=True)
class Queue:
    """A named queue (kombu's ``Queue`` arguments are accepted; exchanges are not needed)."""

    name: str
    exchange: Any = None
    routing_key: str | None = None
    queue_arguments: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        return self.routing_key or self.name


def queues_from(setting: Any, default_queue: str) -> dict[str, Queue]:
    """Normalise ``task_queues`` (dict, list of names/``Queue``/dicts, or None)."""
    out: dict[str, Queue] = {}
    if setting is None:
        return out
    if isinstance(setting, Mapping):
        for name, spec in setting.items():
            if spec is None:
                spec = {}
            if not isinstance(spec, Mapping):
                raise ConfigurationError(f"setting 'task_queues': entry {name!r} must be a mapping")
            out[str(name)] = Queue(str(name), spec.get("exchange"), spec.get("routing_key") or spec.get("binding_key"))
        return out
    if isinstance(setting, str):
        setting = [s.strip() for s in setting.split(",") if s.strip()]
    if not isinstance(setting, Sequence):
        raise ConfigurationError(f"setting 'task_queues' must be a mapping or a list, got {setting!r}")
    for item in setting:
        if isinstance(item, Queue):
            out[item.name] = item
        elif isinstance(item, str):
            out[item] = Queue(item)
        elif isinstance(item, Mapping) and "name" in item:
            out[item["name"]] = Queue(item["name"], item.get("exchange"), item.get("routing_key"))
        elif hasattr(item, "name"):  # a kombu.Queue, if the user's config still imports kombu
            out[item.name] = Queue(item.name, None, getattr(item, "routing_key", None))
        else:
            raise ConfigurationError(f"setting 'task_queues': cannot read queue {item!r}")
    return out


RouteFn = Callable[..., Any]


class Router:
    """Picks the queue of a task from the routes and queues settings."""

    def __init__(self, routes: Any, queues: Mapping[str, Queue], default_queue: str) -> None:
        self.queues = dict(queues)
        self.default_queue = default_queue
        self._by_key = {q.key: q.name for q in self.queues.values()}
        self._routes: list[Mapping[Any, Any] | RouteFn] = []
        if routes is None:
            pass
        elif isinstance(routes, Mapping) or callable(routes):
            self._routes = [routes]
        elif isinstance(routes, Sequence) and not isinstance(routes, str):
            self._routes = list(routes)
        else:
            raise ConfigurationError(f"setting 'task_routes' must be a mapping, a list or a callable, got {routes!r}")
        self._cache: dict[str, str | None] = {}

    def _match(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any],
               options: Mapping[str, Any], task: Any) -> Any:
        for route in self._routes:
            if callable(route) and not isinstance(route, Mapping):
                found = route(name, args, kwargs, options, task=task)
                if found is not None:
                    return found
                continue
            if name in route:
                return route[name]
            for pattern, target in route.items():
                if isinstance(pattern, re.Pattern):
                    if pattern.match(name):
                        return target
                elif isinstance(pattern, str) and any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern):
                    return target
        return None

    def _queue_of(self, target: Any) -> str | None:
        if target is None:
            return None
        if isinstance(target, str):
            return target
        if isinstance(target, Queue):
            return target.name
        if isinstance(target, Mapping):
            queue = target.get("queue")
            if isinstance(queue, Queue):
                return queue.name
            if queue:
                return str(queue)
            key = target.get("routing_key")
            if key is not None:
                return self._by_key.get(key, key)
            return None
        raise ConfigurationError(f"setting 'task_routes': cannot read route {target!r}")

    def route(self, name: str, *, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None, task: Any = None,
              task_queue: str | None = None) -> str:
        """The queue for one call of task ``name``."""
        options = options or {}
        explicit = options.get("queue")
        if explicit:
            return explicit.name if isinstance(explicit, Queue) else str(explicit)
        if options.get("routing_key"):
            key = str(options["routing_key"])
            return self._by_key.get(key, key)
        has_callables = self.has_functions()
        if not has_callables and name in self._cache:
            routed = self._cache[name]
        else:
            routed = self._queue_of(self._match(name, args, kwargs or {}, options, task))
            if not has_callables:
                self._cache[name] = routed
        return routed or task_queue or self.default_queue

    def has_functions(self) -> bool:
        """Whether a router function may choose the queue per call (from its arguments)."""
        return any(callable(r) and not isinstance(r, Mapping) for r in self._routes)

    def consumed_queues(self) -> list[str]:
        """What a worker started without ``-Q`` consumes: the declared queues and the default."""
        names = list(self.queues)
        if self.default_queue not in names:
            names.append(self.default_queue)
        return names
