"""Remote control from the client side: broadcast a command to the workers, gather replies.

A request is one JSON message on the broker's control channel (Redis pub/sub
``celeriac:control:{db}``, scoped to the broker URL's database)::

    {"command": "active", "arguments": {...}, "destination": ["celeriac@host"] | null,
     "reply_to": "<uuid>" | null, "id": "<uuid>"}

Every listening worker *process* answers (each prefork child, with the worker's hostname
and its own consumer name) by pushing to the request's reply list; the client waits until
as many replies as the PUBLISH reached listeners came in, or the timeout. ``Inspect``
merges the replies of one hostname (prefork children) into one answer per worker, as
Celery's ``inspect()`` returns ``{worker: answer}``. What this module must not do: run
commands (``celeriac.worker.remote`` does, in the workers).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.app import Celeriac


def broadcast(app: Celeriac, command: str, arguments: dict[str, Any] | None = None, *,
              destination: Sequence[str] | None = None, reply: bool = True,
              timeout: float = 1.0) -> list[dict[str, Any]]:
    """Send ``command`` to every worker process (or those of ``destination`` host names).

    Returns:
        One dict per worker process that answered within ``timeout`` seconds:
        ``{"hostname", "consumer", "pid", "ok": <answer>}`` or ``{..., "error": <text>}``
        (empty when ``reply`` is False).

    Raises:
        ConnectionLost: the broker cannot be reached.
    """
    broker = app.broker
    request_id = uuid.uuid4().hex
    message: dict[str, Any] = {"command": command, "arguments": dict(arguments or {}), "id": request_id,
                               "destination": list(destination) if destination else None,
                               "reply_to": request_id if reply else None}
    listeners = broker.control_publish(message)
    if not reply:
        return []
    got = broker.control_replies(request_id, listeners if listeners > 0 else None,
                                 timeout if listeners > 0 else 0.0)
    return [r for r in got if not r.get("skipped")]


Merge = Callable[[list[Any]], Any]


def _merge_default(values: list[Any]) -> Any:
    """Lists concatenated (without repeats); equal answers kept once (``{'ok': 'pong'}``,
    ``{'ok': 'pool will grow by 1'}``); differing dicts gathered in a list."""
    if all(isinstance(v, list) for v in values):
        out: list[Any] = []
        for v in values:
            out.extend(x for x in v if x not in out)
        return out
    unique: list[Any] = []
    for v in values:
        if v not in unique:
            unique.append(v)
    return unique[0] if len(unique) == 1 else unique


def merge_union(values: list[Any]) -> Any:
    """Dicts keyed by task id (``query_task``): one dict with every key."""
    out: dict[str, Any] = {}
    for v in values:
        if isinstance(v, dict):
            out.update(v)
    return out


def merge_clock(values: list[Any]) -> Any:
    return {"clock": max(int(v.get("clock", 0)) for v in values if isinstance(v, dict))}


def merge_stats(values: list[Any]) -> Any:
    """The children of one prefork worker as one Celery ``stats()`` answer: their pids in
    ``pool.processes``, ``total`` and the counts summed, rusage summed, uptime the longest."""
    parts = [v for v in values if isinstance(v, dict) and "pool" in v]
    if not parts:
        return _merge_default(values)
    out = dict(parts[0])
    out["pool"] = dict(parts[0]["pool"])
    if len(parts) > 1:
        out["pool"]["processes"] = sorted(p for v in parts for p in v["pool"].get("processes", []))
        out["pool"]["max-concurrency"] = len(out["pool"]["processes"])
        out["pool"]["capacity"] = sum(int(v["pool"].get("capacity", 0)) for v in parts)
        total: dict[str, int] = {}
        for v in parts:
            for name, n in (v.get("total") or {}).items():
                total[name] = total.get(name, 0) + int(n)
        out["total"] = total
        out["rusage"] = {k: sum(v["rusage"].get(k, 0) for v in parts) for k in parts[0].get("rusage", {})}
        out["rusage"]["maxrss"] = max(v["rusage"].get("maxrss", 0) for v in parts)
        for key in ("processed", "active", "in_flight", "prefetch_count"):
            out[key] = sum(int(v.get(key) or 0) for v in parts)
        out["uptime"] = max(int(v.get("uptime", 0)) for v in parts)
        out["consumers"] = sorted(c for v in parts for c in v.get("consumers", []))
        out["clock"] = str(max(int(v.get("clock") or 0) for v in parts))
    return out


def per_worker(replies: list[dict[str, Any]], merge: Merge = _merge_default) -> dict[str, Any]:
    """Merge per-process replies into one answer per hostname (Celery's ``{worker: answer}``):
    by default lists are concatenated and equal answers kept once; ``merge`` decides for
    the commands whose answers add up (``merge_stats``, ``merge_union``, ``merge_clock``)."""
    by_host: dict[str, list[Any]] = {}
    for r in sorted(replies, key=lambda r: str(r.get("consumer"))):
        value = r["ok"] if "ok" in r else {"error": r.get("error")}
        by_host.setdefault(str(r.get("hostname")), []).append(value)
    return {host: merge(values) for host, values in by_host.items()}


class Inspect:
    """``app.control.inspect()``: each method returns ``{hostname: answer}`` (None when no
    worker answered, as Celery does)."""

    def __init__(self, app: Celeriac, *, destination: Sequence[str] | None = None, timeout: float = 1.0) -> None:
        self.app = app
        self.destination = destination
        self.timeout = timeout

    def _ask(self, command: str, merge: Merge = _merge_default, **arguments: Any) -> dict[str, Any] | None:
        replies = broadcast(self.app, command, arguments, destination=self.destination, timeout=self.timeout)
        return per_worker(replies, merge) or None

    def ping(self) -> dict[str, Any] | None:
        """``{hostname: {'ok': 'pong'}}``."""
        return self._ask("ping")

    def query_task(self, *ids: str | Sequence[str]) -> dict[str, Any] | None:
        """``{hostname: {task_id: ['active' | 'reserved', request info]}}`` (Celery's)."""
        flat = [i for x in ids for i in ([x] if isinstance(x, str) else x)]
        return self._ask("query_task", merge_union, ids=flat)

    def active_queues(self) -> dict[str, Any] | None:
        return self._ask("active_queues")

    def clock(self) -> dict[str, Any] | None:
        return self._ask("clock", merge_clock)

    def conf(self, with_defaults: bool = False) -> dict[str, Any] | None:
        return self._ask("conf", with_defaults=with_defaults)

    def report(self) -> dict[str, Any] | None:
        """``{hostname: {'ok': <bug report text>}}``."""
        return self._ask("report")

    def active(self) -> dict[str, Any] | None:
        return self._ask("active")

    def reserved(self) -> dict[str, Any] | None:
        return self._ask("reserved")

    def scheduled(self) -> dict[str, Any] | None:
        return self._ask("scheduled")

    def registered(self, *taskinfoitems: str) -> dict[str, Any] | None:
        """Task names per worker; ``registered('rate_limit')`` adds those attributes."""
        return self._ask("registered", taskinfoitems=list(taskinfoitems))

    registered_tasks = registered

    def stats(self) -> dict[str, Any] | None:
        """Celery's ``stats()`` layout, one answer per worker (a prefork worker's children
        merged: their pids in ``pool.processes``)."""
        return self._ask("stats", merge_stats)

    def revoked(self) -> dict[str, Any] | None:
        return self._ask("revoked")


class Control:
    """``app.control``: revoke, inspect, ping and commands."""

    def __init__(self, app: Celeriac) -> None:
        self.app = app

    def revoke(self, task_id: str | Sequence[str], *, terminate: bool = False, signal: str = "SIGTERM") -> None:
        """Revoke tasks: they never start (on any worker) for ``result_expires`` seconds."""
        ids = [task_id] if isinstance(task_id, str) else list(task_id)
        self.app.broker.revoke(ids, self.app.conf.result_expires)
        # Workers that already fetched the task learn it at once (and stop it if running,
        # with ``terminate``) from the control channel; see docs/protocol.md.
        self.app.broker.control_publish({"command": "revoke", "task_ids": ids, "terminate": bool(terminate),
                                         "signal": signal})

    def inspect(self, destination: Sequence[str] | None = None, timeout: float = 1.0) -> Inspect:
        return Inspect(self.app, destination=destination, timeout=timeout)

    def broadcast(self, command: str, arguments: dict[str, Any] | None = None, *,
                  destination: Sequence[str] | None = None, reply: bool = True,
                  timeout: float = 1.0) -> list[dict[str, Any]]:
        return broadcast(self.app, command, arguments, destination=destination, reply=reply, timeout=timeout)

    def _command(self, command: str, arguments: dict[str, Any] | None, destination: Sequence[str] | None,
                 timeout: float) -> list[dict[str, Any]]:
        """Celery's reply shape: ``[{hostname: {'ok': ...}}, ...]``, one per worker (a prefork
        worker's children answer as one)."""
        found = per_worker(self.broadcast(command, arguments, destination=destination, timeout=timeout))
        return [{host: value} for host, value in sorted(found.items())]

    def ping(self, destination: Sequence[str] | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        """``[{hostname: {"ok": "pong"}}, ...]``, one per worker (as Celery)."""
        return self._command("ping", None, destination, timeout)

    def shutdown(self, destination: Sequence[str] | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        return self._command("shutdown", None, destination, timeout)

    def pool_grow(self, n: int = 1, destination: Sequence[str] | None = None,
                  timeout: float = 1.0) -> list[dict[str, Any]]:
        return self._command("pool_grow", {"n": n}, destination, timeout)

    def pool_shrink(self, n: int = 1, destination: Sequence[str] | None = None,
                    timeout: float = 1.0) -> list[dict[str, Any]]:
        return self._command("pool_shrink", {"n": n}, destination, timeout)

    def add_consumer(self, queue: str, destination: Sequence[str] | None = None,
                     timeout: float = 1.0) -> list[dict[str, Any]]:
        return self._command("add_consumer", {"queue": queue}, destination, timeout)

    def cancel_consumer(self, queue: str, destination: Sequence[str] | None = None,
                        timeout: float = 1.0) -> list[dict[str, Any]]:
        return self._command("cancel_consumer", {"queue": queue}, destination, timeout)

    def rate_limit(self, task_name: str, rate_limit: str | float | None,
                   destination: Sequence[str] | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        return self._command("rate_limit", {"task_name": task_name, "rate_limit": rate_limit}, destination,
                             timeout)
