"""Operational extras of the SQLite (and memory) transport, matching ``redis.py``'s.

Why it exists: the transport capabilities the worker, the producer and the CLI look up
by name (``publish_once``, ``dead_letter_requeue``, ``dead_letter_purge``,
``control_publish``, ``control_subscribe``) must behave on ``sqlite://`` as on Redis
instead of silently missing. A mixin of ``SQLiteBackend`` (it uses its ``db``,
``_publish_in`` and ``_block``).

The control channel is a table: a publish appends a row; a subscription remembers the
last id it read and waits for newer rows the way every SQLite waiter does (in-process
condition, cross-process ``PRAGMA data_version``; see ``sqlconn``). Subscribers mark
themselves in ``control_listeners`` so a publish can count them, like Redis' PUBLISH.
What it must not do: interpret control commands (the worker does).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from celeriac.backends import sqlschema as sql
from celeriac.backends.base import Outgoing
from celeriac.backends.sqlconn import translated

if TYPE_CHECKING:
    from celeriac.backends.sqlconn import FileConnections, MemoryConnections

T = TypeVar("T")

CONTROL_KEEP_S = 60.0  #: control rows older than this are dropped on the next publish
LISTENER_TTL_S = 15.0  #: a subscriber not seen for this long no longer counts as listening
LISTENER_MARK_S = 5.0  #: how often a subscriber refreshes its mark


class SQLiteOps:
    """Publish-once, dead-letter administration and the control channel (mixin)."""

    db: FileConnections | MemoryConnections

    def _publish_in(self, conn: sqlite3.Connection, messages: Sequence[Outgoing], now: float) -> None:
        raise NotImplementedError  # provided by SQLiteBackend

    def _block(self, probe: Callable[[], T | None], timeout_s: float | None) -> T | None:
        raise NotImplementedError  # provided by SQLiteBackend

    # -- publish once ----------------------------------------------------------------------------

    def publish_once(self, messages: Sequence[Outgoing], window_s: float) -> None:
        """Publish each message unless its task id was published this way within
        ``window_s`` seconds and has not reached a ready state since (one transaction)."""
        if not messages:
            return
        now = time.time()
        until = now + max(1, int(window_s))
        with translated("publishing"), self.db.write() as conn:
            fresh = []
            for m in messages:
                row = conn.execute("SELECT until FROM dedup WHERE task_id = ?", (m.task_id,)).fetchone()
                if row is not None and row[0] > now:
                    continue  # the same task id is already queued, delayed or running
                conn.execute("INSERT OR REPLACE INTO dedup (task_id, until) VALUES (?, ?)", (m.task_id, until))
                fresh.append(m)
            if fresh:
                self._publish_in(conn, fresh, now)

    # -- dead letters ----------------------------------------------------------------------------

    def _dead_ids(self, conn: sqlite3.Connection, queue: str, message_ids: Sequence[str] | None) -> list[int]:
        if message_ids is None:
            return [r[0] for r in conn.execute("SELECT id FROM dead WHERE queue = ? ORDER BY id", (queue,))]
        wanted = [int(m) for m in message_ids if str(m).isdigit()]
        if not wanted:
            return []
        return [r[0] for r in conn.execute(
            f"SELECT id FROM dead WHERE queue = ? AND id IN ({sql.placeholders(len(wanted))}) ORDER BY id",
            (queue, *wanted))]

    def dead_letter_requeue(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Put dead letters back on their queue (all of ``queue``'s, or these ids) with a
        fresh delivery count and their history; returns how many."""
        now = time.time()
        with translated("requeueing dead letters"), self.db.write() as conn:
            ids = self._dead_ids(conn, queue, message_ids)
            for mid in ids:
                conn.execute("INSERT INTO messages (queue, priority, task_id, content_type, body, created, history) "
                             "SELECT queue, priority, task_id, content_type, body, ?, history FROM dead "
                             "WHERE id = ?", (now, mid))
                conn.execute("DELETE FROM dead WHERE id = ?", (mid,))
        return len(ids)

    def dead_letter_purge(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Drop dead letters (all of ``queue``'s, or these ids); returns how many."""
        with translated("purging dead letters"), self.db.write() as conn:
            ids = self._dead_ids(conn, queue, message_ids)
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                conn.execute(f"DELETE FROM dead WHERE id IN ({sql.placeholders(len(chunk))})", chunk)
        return len(ids)

    # -- control channel -------------------------------------------------------------------------

    def control_publish(self, message: dict[str, Any]) -> int:
        """Broadcast a control command (JSON) to every subscriber; returns how many listen."""
        now = time.time()
        with translated("publishing a control message"), self.db.write() as conn:
            conn.execute("INSERT INTO control (time, data) VALUES (?, ?)", (now, json.dumps(message)))
            conn.execute("DELETE FROM control WHERE time < ?", (now - CONTROL_KEEP_S,))
            conn.execute("DELETE FROM control_listeners WHERE seen < ?", (now - LISTENER_TTL_S,))
            (listeners,) = conn.execute("SELECT count(*) FROM control_listeners").fetchone()
        return int(listeners)

    def control_subscribe(self) -> SQLiteControlSubscription:
        """A subscription to the control channel: commands published from now on."""
        return SQLiteControlSubscription(self)


class SQLiteControlSubscription:
    """Control commands as dicts, read from the ``control`` table past a cursor."""

    def __init__(self, backend: SQLiteOps) -> None:
        self.backend = backend
        self.name = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._marked = 0.0
        with translated("subscribing to the control channel"), backend.db.write() as conn:
            (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM control").fetchone()
            self._mark(conn)
        self.cursor = int(last)

    def _mark(self, conn: sqlite3.Connection) -> None:
        self._marked = time.monotonic()
        conn.execute("INSERT OR REPLACE INTO control_listeners (name, seen) VALUES (?, ?)",
                     (self.name, time.time()))

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        """The next command, or None after ``timeout_s``."""
        db = self.backend.db
        with translated("reading the control channel"):
            if time.monotonic() - self._marked > LISTENER_MARK_S:
                with db.write() as conn:
                    self._mark(conn)

            def probe() -> tuple[int, str] | None:
                with db.read() as conn:
                    row = conn.execute("SELECT id, data FROM control WHERE id > ? ORDER BY id LIMIT 1",
                                       (self.cursor,)).fetchone()
                return (int(row[0]), str(row[1])) if row is not None else None

            found = self.backend._block(probe, timeout_s)
        if found is None:
            return None
        self.cursor = found[0]
        try:
            value = json.loads(found[1])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        try:
            with translated("unsubscribing"), self.backend.db.write() as conn:
                conn.execute("DELETE FROM control_listeners WHERE name = ?", (self.name,))
        except Exception:  # closing is best effort: the mark expires on its own
            pass
