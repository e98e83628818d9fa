"""Events: their one wire format, typed reading, human lines, and tailing the stream.

Workers and producers write events as flat string maps in the same broker round trip as
the work they describe (see docs/protocol.md, "Events"); this module is how every reader
(the CLI, ``celeriac task``, the operator) turns them back into typed dicts. What it must
not do: write to the broker on a hot path (the executor and ``settle.lua`` do that).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celeriac.backends.base import Backend

#: Event types a task goes through, in the order they happen.
TASK_EVENTS = ("task-sent", "task-received", "task-started", "task-succeeded", "task-failed",
               "task-retried", "task-revoked", "task-rejected")
#: Event types of a worker process.
WORKER_EVENTS = ("worker-online", "worker-heartbeat", "worker-offline")

#: Fields carried as numbers (floats or ints) on the wire as decimal strings.
FLOAT_FIELDS = frozenset({"timestamp", "runtime", "eta", "received", "started", "latency", "uptime",
                          "freq"})
INT_FIELDS = frozenset({"pid", "processed", "active", "in_flight", "concurrency", "retries", "deliveries"})
#: Fields carried as JSON (lists, objects).
JSON_FIELDS = frozenset({"queues"})


def normalize(event: dict[str, Any]) -> dict[str, Any]:
    """Type the known fields of an event read from any transport (others stay strings)."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, str):
            try:
                if key in FLOAT_FIELDS:
                    value = float(value) if value else None
                elif key in INT_FIELDS:
                    value = int(float(value)) if value else 0
                elif key in JSON_FIELDS:
                    value = json.loads(value) if value else []
                elif key == "expired":
                    value = value in ("True", "true", "1")
            except ValueError:
                pass
        out[key] = value
    return out


def wire(event: dict[str, Any]) -> dict[str, Any]:
    """An event as written: every value a string (floats with full precision, lists JSON)."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, float):
            out[key] = repr(value)
        elif isinstance(value, list | tuple | dict):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


def task_sent(task_id: str, name: str | None, queue: str, eta: float | None) -> dict[str, Any]:
    """The ``task-sent`` event of a message being published (by the producer)."""
    event = {"type": "task-sent", "uuid": task_id, "name": name or "", "queue": queue,
             "timestamp": repr(time.time())}
    if eta is not None:
        event["eta"] = repr(eta)
    return event


def human(event: dict[str, Any]) -> str:
    """One line a person reads: time, type, what, where."""
    e = normalize(event)
    ts = e.get("timestamp")
    when = (dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]
            if isinstance(ts, float) else "--:--:--.---")
    kind = str(e.get("type", "?"))
    host = e.get("hostname") or ""
    if kind.startswith("worker-"):
        extra = ""
        if kind == "worker-heartbeat":
            extra = (f" active={e.get('active', 0)} processed={e.get('processed', 0)}"
                     f" pool={e.get('pool', '')}x{e.get('concurrency', '')}")
        return f"{when} {kind:<16} {host}{extra}"
    name = e.get("name") or ""
    parts = [f"{when} {kind:<16} {name}[{e.get('uuid', '')}]"]
    if host:
        parts.append(f"on {host}")
    if isinstance(e.get("runtime"), float):
        parts.append(f"in {e['runtime']:.4f}s")
    for key in ("result", "exception", "reason"):
        if e.get(key):
            parts.append(f"{key}={str(e[key])[:120]}")
    if kind == "task-sent" and e.get("queue"):
        parts.append(f"-> {e['queue']}")
    return " ".join(parts)


def tail(backend: Backend, *, after_id: str = "$", block_s: float = 1.0,
         stop: Any = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events as they come (``after_id`` "0": from the oldest kept), forever or until
    ``stop()`` is true; yields ``(id, typed event)``."""
    cursor = after_id
    while stop is None or not stop():
        batch = backend.read_events(cursor, 500, block_s)
        for eid, event in batch:
            cursor = eid
            yield eid, normalize(event)


def dump(backend: Backend, *, after_id: str = "0") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every event kept in the stream, oldest first, then stop."""
    cursor = after_id
    while True:
        batch = backend.read_events(cursor, 1000, 0.0)
        if not batch:
            return
        for eid, event in batch:
            cursor = eid
            yield eid, normalize(event)


def for_task(backend: Backend, task_id: str, *, limit: int = 200_000) -> list[dict[str, Any]]:
    """The events of one task still kept in the stream (a scan: for ``celeriac task``)."""
    out = []
    for seen, (_eid, event) in enumerate(dump(backend), 1):
        if event.get("uuid") == task_id:
            out.append(event)
        if seen >= limit:
            break
    return out
