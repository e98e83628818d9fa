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
from collections.abc import Sequence
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


def per_worker(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge per-process replies into one answer per hostname: lists are concatenated,
    dicts gathered under each process's consumer name, equal scalars kept once."""
    out: dict[str, Any] = {}
    for r in sorted(replies, key=lambda r: str(r.get("consumer"))):
        host = str(r.get("hostname"))
        value = r["ok"] if "ok" in r else {"error": r.get("error")}
        if host not in out:
            out[host] = [*value] if isinstance(value, list) else (
                {r.get("consumer"): value} if isinstance(value, dict) else value)
            continue
        have = out[host]
        if isinstance(have, list) and isinstance(value, list):
            have.extend(v for v in value if v not in have)
        elif isinstance(have, dict) and isinstance(value, dict):
            have[r.get("consumer")] = value
    return out


class Inspect:
    """``app.control.inspect()``: each method returns ``{hostname: answer}`` (None when no
    worker answered, as Celery does)."""

    def __init__(self, app: Celeriac, *, destination: Sequence[str] | None = None, timeout: float = 1.0) -> None:
        self.app = app
        self.destination = destination
        self.timeout = timeout

    def _ask(self, command: str, **arguments: Any) -> dict[str, Any] | None:
        replies = broadcast(self.app, command, arguments, destination=self.destination, timeout=self.timeout)
        return per_worker(replies) or None

    def ping(self) -> dict[str, Any] | None:
        return self._ask("ping")

    def active(self) -> dict[str, Any] | None:
        return self._ask("active")

    def reserved(self) -> dict[str, Any] | None:
        return self._ask("reserved")

    def scheduled(self) -> dict[str, Any] | None:
        return self._ask("scheduled")

    def registered(self) -> dict[str, Any] | None:
        return self._ask("registered")

    def stats(self) -> dict[str, Any] | None:
        return self._ask("stats")

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

    def ping(self, destination: Sequence[str] | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        """``[{hostname: {"ok": "pong"}}, ...]``, one per worker (as Celery)."""
        found = per_worker(self.broadcast("ping", destination=destination, timeout=timeout))
        return [{host: {"ok": value}} for host, value in found.items()]

    def shutdown(self, destination: Sequence[str] | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        return self.broadcast("shutdown", destination=destination, timeout=timeout)

    def pool_grow(self, n: int = 1, destination: Sequence[str] | None = None,
                  timeout: float = 1.0) -> list[dict[str, Any]]:
        return self.broadcast("pool_grow", {"n": n}, destination=destination, timeout=timeout)

    def pool_shrink(self, n: int = 1, destination: Sequence[str] | None = None,
                    timeout: float = 1.0) -> list[dict[str, Any]]:
        return self.broadcast("pool_shrink", {"n": n}, destination=destination, timeout=timeout)

    def add_consumer(self, queue: str, destination: Sequence[str] | None = None,
                     timeout: float = 1.0) -> list[dict[str, Any]]:
        return self.broadcast("add_consumer", {"queue": queue}, destination=destination, timeout=timeout)

    def cancel_consumer(self, queue: str, destination: Sequence[str] | None = None,
                        timeout: float = 1.0) -> list[dict[str, Any]]:
        return self.broadcast("cancel_consumer", {"queue": queue}, destination=destination, timeout=timeout)

    def rate_limit(self, task_name: str, rate_limit: str | float | None,
                   destination: Sequence[str] | None = None, timeout: float = 1.0) -> list[dict[str, Any]]:
        return self.broadcast("rate_limit", {"task_name": task_name, "rate_limit": rate_limit},
                              destination=destination, timeout=timeout)
