"""What operators and autoscalers ask of Redis: enqueue once, task lookup, queue statistics
and live workers, each in ONE round trip whatever the number of ids or queues.

It exists so that ``redis.py`` stays about moving messages; like ``redis_observe.py`` it
receives the client and the error translator from
:class:`~celeriac.backends.redis.RedisBackend` and never imports ``redis`` itself. The
atomic parts are Lua scripts (``enqueue_once.lua``, ``queue_stats.lua``,
``live_workers.lua``); the running snapshot is written by ``settle.lua`` with the
worker's settlements. What it must not do: decode task payloads (``celeriac.inspect``
does, with the app's accepted content types).

Keys (documented with the rest at the top of ``redis.py``)::

    celeriac:once:{id}      enqueue-once marker (hash: state, enqueued, queue, task)
    celeriac:running:{name} what worker process ``name`` runs now ("<seq>\\n<in flight>\\n<id>...")
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import msgpack

from celeriac.backends import redis_scripts
from celeriac.backends.base import (
    FINISHED,
    PRIORITY_STEPS,
    QUEUED,
    Outgoing,
    QueueStats,
    ResultRecord,
    RunningSnapshot,
    TaskTrace,
    WorkerInfo,
    priority_step,
)

if TYPE_CHECKING:
    from redis import Redis

PREFIX = "celeriac"  #: same prefix as redis.py
GROUP = "celeriac"  #: same consumer group as redis.py


def running_value(snapshot: RunningSnapshot) -> str:
    """The stored form of a running snapshot: ``<seq>\\n<in flight>\\n<task id>\\n...``."""
    return "\n".join((str(snapshot.seq), str(snapshot.in_flight), *snapshot.task_ids))


def running_arg(snapshot: RunningSnapshot) -> tuple[str, int, str, int]:
    """The ``running`` entry of a ``settle.lua`` batch."""
    return (snapshot.consumer, snapshot.seq, running_value(snapshot), max(1, int(snapshot.ttl_s * 1000)))


def parse_running(value: bytes | None) -> tuple[int | None, tuple[str, ...]]:
    """``(in flight, running task ids)`` of a stored snapshot (``(None, ())``: none)."""
    if not value:
        return None, ()
    lines = value.decode(errors="replace").split("\n")
    in_flight = int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None
    return in_flight, tuple(t for t in lines[2:] if t)


def worker_info(name: str, description: dict[str, Any], running: bytes | None) -> WorkerInfo:
    """A :class:`WorkerInfo` from a registry description and the worker's running snapshot
    (the snapshot is newer than the description, which is written once per heartbeat)."""
    in_flight, ids = parse_running(running)
    return WorkerInfo(
        id=str(description.get("name") or name),
        hostname=str(description.get("hostname") or ""),
        queues=tuple(str(q) for q in description.get("queues") or ()),
        pool=str(description.get("pool") or ""),
        concurrency=int(description.get("concurrency") or 0),
        in_flight=in_flight if in_flight is not None else int(description.get("in_flight") or 0),
        running=ids,
        last_heartbeat=float(description.get("heartbeat") or 0.0),
        pid=int(description["pid"]) if isinstance(description.get("pid"), int) else None,
    )


class RedisInspect:
    """Enqueue once, lookup, queue statistics, live workers (see module doc)."""

    def __init__(self, client: Redis, translated: Callable[[str], AbstractContextManager[None]],
                 record_of: Callable[[str, bytes | None, dict[bytes, bytes]], ResultRecord | None],
                 replicated: Callable[[Callable[[Any], object]], list[Any]] | None = None) -> None:
        self.client = client
        self._translated = translated
        self._record_of = record_of
        self._replicated = replicated  # broker_wait_replicas: the enqueue waits like a publish
        self._scripts = {name: client.register_script(redis_scripts.script(name))
                         for name in ("enqueue_once", "queue_stats", "live_workers")}

    # -- enqueue once ----------------------------------------------------------------------

    def enqueue_once(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]],
                     keep_s: float | None, events_maxlen: int, new_queues: Sequence[str]) -> list[bool]:
        """Publish each message unless its task id is marked or has a record (atomic)."""
        if not messages:
            return []
        rows = []
        for i, m in enumerate(messages):
            event: list[str] = []
            if i < len(events):
                for k, v in events[i].items():
                    event.append(k)
                    event.append(v if isinstance(v, str) else json.dumps(v))
            rows.append((m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body,
                         int(m.eta * 1000) if m.eta is not None else 0, m.task or "", event))
        keep = max(1, int(keep_s)) if keep_s else 0
        args = [PREFIX, int(time.time() * 1000), keep, events_maxlen,
                msgpack.packb(rows, use_bin_type=False), msgpack.packb(list(new_queues), use_bin_type=False)]
        script = self._scripts["enqueue_once"]
        with self._translated("enqueueing once"):
            if self._replicated is not None:
                # A retry after too few replicas answers "already enqueued": safe, if pessimistic.
                reply = self._replicated(lambda pipe: script(keys=[], args=args, client=pipe))[0]
            else:
                reply = script(keys=[], args=args)
        return [int(r) == 1 for r in reply]

    # -- lookup ----------------------------------------------------------------------------

    def lookup(self, task_ids: Sequence[str]) -> list[TaskTrace]:
        """Record, enqueue-once marker and publish-once guard of each id (one pipeline)."""
        if not task_ids:
            return []
        with self._translated("looking tasks up"):
            pipe = self.client.pipeline(transaction=False)
            for t in task_ids:
                pipe.lindex(f"{PREFIX}:done:{t}", 0)
                pipe.hgetall(f"{PREFIX}:result:{t}")
                pipe.hgetall(f"{PREFIX}:once:{t}")
                pipe.exists(f"{PREFIX}:dedup:{t}")
            raws = pipe.execute()
        out = []
        for i, t in enumerate(task_ids):
            done, live, once, guarded = raws[4 * i: 4 * i + 4]
            record = self._record_of(t, done, live)
            mark = once.get(b"state", b"").decode() if once else None
            if mark not in (QUEUED, FINISHED):
                mark = QUEUED if guarded else None
            enqueued = once.get(b"enqueued") if once else None
            out.append(TaskTrace(
                task_id=t, record=record, mark=mark,
                enqueued_at=int(enqueued) / 1000 if enqueued else None,
                queue=once[b"queue"].decode() if once and once.get(b"queue") else None,
                task=once[b"task"].decode() if once and once.get(b"task") else None,
            ))
        return out

    # -- queue statistics ------------------------------------------------------------------

    def queue_stats(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        if not queues:
            return {}
        now_ms = int(time.time() * 1000)
        with self._translated("reading queue stats"):
            rows = self._scripts["queue_stats"](keys=[], args=[
                PREFIX, GROUP, now_ms, len(PRIORITY_STEPS), *PRIORITY_STEPS, *queues])
        ns = len(PRIORITY_STEPS)
        out: dict[str, QueueStats] = {}
        for queue, row in zip(queues, rows, strict=True):
            values = [int(v) for v in row]
            by_step = dict(zip(PRIORITY_STEPS, values[:ns], strict=True))
            in_flight, oldest_ms, delayed, due, dead, consumers = values[ns:ns + 6]
            out[queue] = QueueStats(
                queue=queue, waiting=sum(by_step.values()), delayed=max(0, delayed - due), due=due,
                in_flight=in_flight, dead=dead,
                oldest_wait_s=max(0.0, (now_ms - oldest_ms) / 1000) if oldest_ms >= 0 else None,
                waiting_by_priority=by_step, consumers=consumers)
        return out

    # -- live workers ----------------------------------------------------------------------

    def live_workers(self) -> list[WorkerInfo]:
        with self._translated("listing live workers"):
            rows = self._scripts["live_workers"](keys=[], args=[PREFIX])
        out = []
        for name, description, running in rows:
            try:
                info = json.loads(description)
            except ValueError:
                continue
            if isinstance(info, dict):
                out.append(worker_info(name.decode(errors="replace"), info, running))
        return sorted(out, key=lambda w: (w.hostname, w.id))
