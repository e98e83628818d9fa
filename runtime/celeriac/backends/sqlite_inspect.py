"""What operators and autoscalers ask of the SQLite (and memory) transport: enqueue once,
task lookup, queue statistics and live workers, matching ``redis_inspect.py``.

A mixin of ``SQLiteBackend`` (it uses its ``db``, ``_publish_in``, ``_events_in``,
``_result_ttl`` and the observability tables). Each call is one transaction: the
enqueue-once check, marker and insert are atomic like the Redis script; a lookup or a
statistics read sees one snapshot of the file. What it must not do: decode payloads.

Tables (in ``sqlschema``): ``once`` (the enqueue-once markers) and ``running`` (each
worker process's running snapshot, written by ``settle``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac.backends import sqlschema as sql
from celeriac.backends.base import (
    FINISHED,
    PRIORITY_STEPS,
    QUEUED,
    Outgoing,
    QueueStats,
    RunningSnapshot,
    TaskTrace,
    WorkerInfo,
)
from celeriac.backends.sqlconn import translated

if TYPE_CHECKING:
    from celeriac.backends.sqlconn import FileConnections, MemoryConnections

CHUNK = 500  #: ids per ``IN (...)`` (SQLite's bound-parameter limit is far above)


def _worker_info(info: dict[str, Any], running: tuple[int, str] | None) -> WorkerInfo:
    ids = tuple(t for t in running[1].split("\n") if t) if running is not None else ()
    return WorkerInfo(
        id=str(info.get("name") or ""), hostname=str(info.get("hostname") or ""),
        queues=tuple(str(q) for q in info.get("queues") or ()), pool=str(info.get("pool") or ""),
        concurrency=int(info.get("concurrency") or 0),
        in_flight=running[0] if running is not None else int(info.get("in_flight") or 0),
        running=ids, last_heartbeat=float(info.get("heartbeat") or 0.0),
        pid=int(info["pid"]) if isinstance(info.get("pid"), int) else None,
    )


class SQLiteInspect:
    """Enqueue once, lookup, queue statistics, live workers (mixin)."""

    db: FileConnections | MemoryConnections
    _result_ttl: float | None

    def _publish_in(self, conn: sqlite3.Connection, messages: Sequence[Outgoing], now: float) -> None:
        raise NotImplementedError  # provided by SQLiteBackend

    def _events_in(self, conn: sqlite3.Connection, events: Sequence[dict[str, Any]], now: float) -> None:
        raise NotImplementedError  # provided by SQLiteAdmin

    def _observe_ready(self) -> None:
        raise NotImplementedError  # provided by SQLiteObserve

    # -- enqueue once ----------------------------------------------------------------------

    def enqueue_once(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]],
                     keep_s: float | None) -> list[bool]:
        """Publish each message unless its task id has an unexpired marker, record or
        publish-once guard (one transaction). ``events[i]`` goes with ``messages[i]``."""
        if not messages:
            return []
        now = time.time()
        out: list[bool] = []
        with translated("enqueueing once"), self.db.write() as conn:
            fresh: list[Outgoing] = []
            sent: list[dict[str, Any]] = []
            for i, m in enumerate(messages):
                seen = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM once WHERE task_id = ?1 AND (until IS NULL OR until > ?2)) "
                    "OR EXISTS (SELECT 1 FROM results WHERE task_id = ?1 AND (expires IS NULL OR expires > ?2)) "
                    "OR EXISTS (SELECT 1 FROM dedup WHERE task_id = ?1 AND until > ?2)",
                    (m.task_id, now)).fetchone()[0]
                if seen:
                    out.append(False)
                    continue
                delay = max(0.0, m.eta - now) if m.eta is not None else 0.0
                until = now + keep_s + delay if keep_s else None
                conn.execute("INSERT OR REPLACE INTO once (task_id, state, enqueued, queue, task, until) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (m.task_id, QUEUED, now, m.queue, m.task, until))
                fresh.append(m)
                if i < len(events):
                    sent.append(events[i])
                out.append(True)
            if fresh:
                self._publish_in(conn, fresh, now)
            if sent:
                self._events_in(conn, sent, now)
        return out

    def _finish_once_in(self, conn: sqlite3.Connection, ready: list[tuple[str]], now: float) -> None:
        """Ready results flip their markers to finished, outliving the record (2 x ttl)."""
        until = now + 2 * self._result_ttl if self._result_ttl else None
        ids = [t for (t,) in ready]
        for i in range(0, len(ids), CHUNK):  # one statement per batch, not one per task
            chunk = ids[i:i + CHUNK]
            conn.execute(f"UPDATE once SET state = '{FINISHED}', until = ? WHERE task_id IN "
                         f"({sql.placeholders(len(chunk))})", (until, *chunk))

    # -- lookup ----------------------------------------------------------------------------

    def lookup(self, task_ids: Sequence[str]) -> list[TaskTrace]:
        now = time.time()
        records: dict[str, Any] = {}
        marks: dict[str, tuple[str, float, str | None, str | None]] = {}
        guarded: set[str] = set()
        ids = list(dict.fromkeys(task_ids))
        with translated("looking tasks up"), self.db.read() as conn:
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i:i + CHUNK]
                marks_sql = sql.placeholders(len(chunk))
                for row in conn.execute(
                        f"SELECT task_id, {sql.RESULT_COLUMNS} FROM results WHERE task_id IN ({marks_sql}) "
                        "AND (expires IS NULL OR expires > ?)", (*chunk, now)):
                    records[row[0]] = sql.row_to_record(row[0], row[1:])
                for t, state, enqueued, queue, task in conn.execute(
                        f"SELECT task_id, state, enqueued, queue, task FROM once WHERE task_id IN ({marks_sql}) "
                        "AND (until IS NULL OR until > ?)", (*chunk, now)):
                    marks[t] = (state, float(enqueued), queue, task)
                guarded.update(r[0] for r in conn.execute(
                    f"SELECT task_id FROM dedup WHERE task_id IN ({marks_sql}) AND until > ?", (*chunk, now)))
        out = []
        for t in task_ids:
            mark = marks.get(t)
            out.append(TaskTrace(
                task_id=t, record=records.get(t),
                mark=mark[0] if mark is not None else (QUEUED if t in guarded else None),
                enqueued_at=mark[1] if mark is not None else None,
                queue=mark[2] if mark is not None else None, task=mark[3] if mark is not None else None))
        return out

    # -- running snapshots and live workers ------------------------------------------------

    def _running_in(self, conn: sqlite3.Connection, snapshot: RunningSnapshot, now: float) -> None:
        conn.execute(
            "INSERT INTO running (consumer, seq, in_flight, task_ids, expires) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, in_flight = excluded.in_flight, "
            "task_ids = excluded.task_ids, expires = excluded.expires WHERE excluded.seq > running.seq "
            "OR running.expires <= ?",
            (snapshot.consumer, snapshot.seq, snapshot.in_flight, "\n".join(snapshot.task_ids),
             now + snapshot.ttl_s, now))

    def live_workers(self) -> list[WorkerInfo]:
        self._observe_ready()
        now = time.time()
        with translated("listing live workers"), self.db.read() as conn:
            described = conn.execute("SELECT name, info FROM workers WHERE expires > ? ORDER BY name",
                                     (now,)).fetchall()
            running = {c: (int(n), str(ids)) for c, n, ids in conn.execute(
                "SELECT consumer, in_flight, task_ids FROM running WHERE expires > ?", (now,))}
        out = []
        for name, raw in described:
            info = json.loads(raw)
            if isinstance(info, dict):
                info.setdefault("name", name)
                out.append(_worker_info(info, running.get(name)))
        return sorted(out, key=lambda w: (w.hostname, w.id))

    # -- queue statistics ------------------------------------------------------------------

    def queue_stats(self, queue: str) -> QueueStats:
        return self.queue_stats_many([queue])[queue]

    def queue_stats_many(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        """Depth figures of these queues in one read transaction (no worker needed)."""
        names = list(dict.fromkeys(queues))
        if not names:
            return {}
        self._observe_ready()
        now = time.time()
        waiting: dict[str, dict[int, int]] = {q: dict.fromkeys(PRIORITY_STEPS, 0) for q in names}
        oldest: dict[str, float] = {}
        delayed: dict[str, tuple[int, int]] = {}
        in_flight: dict[str, int] = {}
        dead: dict[str, int] = {}
        consumers: dict[str, int] = {}
        with translated("reading queue stats"), self.db.read() as conn:
            for i in range(0, len(names), CHUNK):
                chunk = names[i:i + CHUNK]
                m = sql.placeholders(len(chunk))
                for q, step, n, first in conn.execute(
                        f"SELECT queue, priority, count(*), min(created) FROM messages WHERE queue IN ({m}) "
                        "AND eta IS NULL AND lease_owner IS NULL GROUP BY queue, priority", chunk):
                    waiting[q][int(step)] = waiting[q].get(int(step), 0) + int(n)
                    oldest[q] = min(oldest.get(q, first), first)
                for q, n, due in conn.execute(
                        f"SELECT queue, count(*), coalesce(sum(eta <= ?), 0) FROM messages WHERE queue IN ({m}) "
                        "AND eta IS NOT NULL GROUP BY queue", (now, *chunk)):
                    delayed[q] = (int(n), int(due))
                for q, n in conn.execute(f"SELECT queue, count(*) FROM messages WHERE queue IN ({m}) AND "
                                         "lease_owner IS NOT NULL GROUP BY queue", chunk):
                    in_flight[q] = int(n)
                for q, n in conn.execute(f"SELECT queue, count(*) FROM dead WHERE queue IN ({m}) GROUP BY queue",
                                         chunk):
                    dead[q] = int(n)
            for (raw,) in conn.execute("SELECT info FROM workers WHERE expires > ?", (now,)):
                try:
                    info = json.loads(raw)
                except ValueError:
                    continue
                for q in info.get("queues") or () if isinstance(info, dict) else ():
                    consumers[q] = consumers.get(q, 0) + 1
        out = {}
        for q in names:
            n_delayed, due = delayed.get(q, (0, 0))
            first = oldest.get(q)
            out[q] = QueueStats(
                queue=q, waiting=sum(waiting[q].values()), delayed=n_delayed - due, due=due,
                in_flight=in_flight.get(q, 0), dead=dead.get(q, 0),
                oldest_wait_s=max(0.0, now - first) if first is not None else None,
                waiting_by_priority=waiting[q], consumers=consumers.get(q, 0))
        return out
