"""Observability on the SQLite (and memory) transport, matching ``redis_observe.py``.

Why it exists: ``celeriac events``, ``inspect``, ``control``, ``status`` and the metrics
collector look these capabilities up by name (``read_events``, ``last_event_id``,
``worker_register``, ``workers``, ``control_reply``, ``control_replies``,
``collector_lease``); on the embedded default they must work as on Redis. A mixin of
``SQLiteBackend`` (it uses its ``db`` and ``_block``). Blocking reads wake like every
SQLite waiter (see ``sqlconn``), never in a sleep loop. What it must not do: interpret
events or control commands.

Tables (created on first use, beside those of ``sqlschema``)::

    workers          name -> info (JSON), expires: live worker processes
    control_replies  id, request_id, data (JSON), time: replies to control requests
    leases           name -> holder, expires: the metrics collector lease
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from celeriac.backends.sqlconn import translated

if TYPE_CHECKING:
    from celeriac.backends.sqlconn import FileConnections, MemoryConnections

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (name TEXT PRIMARY KEY, info TEXT NOT NULL, expires REAL NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS control_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, data TEXT NOT NULL, time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS control_replies_request ON control_replies (request_id, id);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL)
    WITHOUT ROWID
"""
REPLY_TTL_S = 60.0  #: how long unread control replies stay (as in redis_observe.py)
COLLECTOR = "metrics-collector"  #: the lease name of the queue-gauge collector


class SQLiteObserve:
    """Events reading, worker registry, control replies, collector lease (mixin)."""

    db: FileConnections | MemoryConnections
    _observe_schema_ready: bool = False

    def _block(self, probe: Callable[[], T | None], timeout_s: float | None) -> T | None:
        raise NotImplementedError  # provided by SQLiteBackend

    @contextmanager
    def _observe_write(self, what: str) -> Iterator[sqlite3.Connection]:
        with translated(what), self.db.write() as conn:
            if not self._observe_schema_ready:
                for statement in SCHEMA.split(";"):
                    conn.execute(statement)
                self._observe_schema_ready = True
            yield conn

    def _observe_ready(self) -> None:
        if not self._observe_schema_ready:
            with self._observe_write("creating observability tables"):
                pass

    # -- events ----------------------------------------------------------------------------

    def read_events(self, after_id: str | int = "0", count: int = 1000,
                    block_s: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """Stored events newer than ``after_id`` ("$": only new ones), oldest first:
        ``(id, event)`` pairs; waits up to ``block_s`` when none is there yet."""
        with translated("reading events"):
            if after_id == "$":
                after_id = self.last_event_id()
            after = int(str(after_id or "0").split("-")[0] or 0)

            def probe() -> list[tuple[str, dict[str, Any]]] | None:
                with self.db.read() as conn:
                    rows = conn.execute("SELECT id, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                        (after, count)).fetchall()
                return [(str(i), json.loads(d)) for i, d in rows] or None

            return (self._block(probe, block_s) if block_s > 0 else probe()) or []

    def recent_events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The ``count`` newest events, oldest first."""
        with translated("reading events"), self.db.read() as conn:
            rows = conn.execute("SELECT id, data FROM events ORDER BY id DESC LIMIT ?", (count,)).fetchall()
        return [(str(i), json.loads(d)) for i, d in reversed(rows)]

    def last_event_id(self) -> str:
        with translated("reading events"), self.db.read() as conn:
            return str(conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    # -- worker registry -------------------------------------------------------------------

    def worker_register(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        with self._observe_write("registering a worker") as conn:
            conn.execute("INSERT OR REPLACE INTO workers (name, info, expires) VALUES (?, ?, ?)",
                         (name, json.dumps(info, default=str), time.time() + ttl_s))

    def worker_unregister(self, name: str) -> None:
        with self._observe_write("unregistering a worker") as conn:
            conn.execute("DELETE FROM workers WHERE name = ?", (name,))
            conn.execute("DELETE FROM running WHERE consumer = ?", (name,))

    def workers(self) -> list[dict[str, Any]]:
        self._observe_ready()
        with translated("listing workers"), self.db.read() as conn:
            rows = conn.execute("SELECT info FROM workers WHERE expires > ? ORDER BY name",
                                (time.time(),)).fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- control replies -------------------------------------------------------------------

    def control_reply(self, request_id: str, reply: dict[str, Any]) -> None:
        now = time.time()
        with self._observe_write("replying to a control request") as conn:
            conn.execute("INSERT INTO control_replies (request_id, data, time) VALUES (?, ?, ?)",
                         (request_id, json.dumps(reply, default=str), now))
            conn.execute("DELETE FROM control_replies WHERE time < ?", (now - REPLY_TTL_S,))

    def control_replies(self, request_id: str, expected: int | None, timeout_s: float) -> list[dict[str, Any]]:
        """Replies to ``request_id``: until ``expected`` arrived or ``timeout_s`` passed."""
        self._observe_ready()
        out: list[dict[str, Any]] = []
        last = 0
        deadline = time.monotonic() + timeout_s

        def probe() -> list[tuple[int, str]] | None:
            with self.db.read() as conn:
                rows = conn.execute("SELECT id, data FROM control_replies WHERE request_id = ? AND id > ? "
                                    "ORDER BY id", (request_id, last)).fetchall()
            return [(int(i), str(d)) for i, d in rows] or None

        with translated("reading control replies"):
            while expected is None or len(out) < expected:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                rows = self._block(probe, left)
                if rows is None:
                    break
                last = rows[-1][0]
                out.extend(json.loads(d) for _i, d in rows)
        with self._observe_write("reading control replies") as conn:
            conn.execute("DELETE FROM control_replies WHERE request_id = ?", (request_id,))
        return out

    # -- metrics collector lease -----------------------------------------------------------

    def collector_lease(self, holder: str, ttl_s: float) -> bool:
        now = time.time()
        with self._observe_write("taking the collector lease") as conn:
            row = conn.execute("SELECT holder, expires FROM leases WHERE name = ?", (COLLECTOR,)).fetchone()
            if row is not None and row[0] != holder and row[1] > now:
                return False
            conn.execute("INSERT OR REPLACE INTO leases (name, holder, expires) VALUES (?, ?, ?)",
                         (COLLECTOR, holder, now + ttl_s))
        return True
