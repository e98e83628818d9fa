"""Revocation, purge, dead-letter listing and events of the SQLite transport.

Why it exists: the read-mostly half of :class:`~celeriac.backends.sqlite.SQLiteBackend`,
kept apart so the module that moves messages stays short. A mixin (it uses the backend's
``db`` and ``_events_maxlen``); ``_events_in`` is also called inside settle transactions.
What it must not do: move messages between states (fetch, settle and hand-backs live in
``sqlite.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac.backends import sqlschema as sql
from celeriac.backends.base import DeadLetter
from celeriac.backends.sqlconn import translated as _translated

if TYPE_CHECKING:
    from celeriac.backends.sqlconn import FileConnections, MemoryConnections

FOREVER_S = 10 * 365 * 86400.0  #: "no expiry" for a revocation


class SQLiteAdmin:
    """Revocation, purge, dead letters and events for ``SQLiteBackend`` (mixin)."""

    db: FileConnections | MemoryConnections
    _events_maxlen: int

    def revoke(self, task_ids: Sequence[str], expires_s: float | None) -> None:
        now = time.time()
        until = now + (expires_s if expires_s is not None else FOREVER_S)
        with _translated("revoking"), self.db.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO revoked (task_id, until) VALUES (?, ?)",
                             [(t, until) for t in task_ids])
            conn.execute("DELETE FROM revoked WHERE until <= ?", (now,))

    def revoked(self, task_ids: Sequence[str]) -> list[bool]:
        if not task_ids:
            return []
        with _translated("checking revocations"), self.db.read() as conn:
            found = {r[0] for r in conn.execute(
                f"SELECT task_id FROM revoked WHERE task_id IN ({sql.placeholders(len(task_ids))}) "
                "AND until > ?", (*task_ids, time.time()))}
        return [t in found for t in task_ids]

    def known_queues(self) -> list[str]:
        with _translated("listing queues"), self.db.read() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM queues ORDER BY name")]

    def purge(self, queue: str) -> int:
        """Drop ready and delayed messages (held ones stay: their workers will settle them)."""
        with _translated("purging"), self.db.write() as conn:
            return int(conn.execute("DELETE FROM messages WHERE queue = ? AND lease_owner IS NULL",
                                    (queue,)).rowcount)

    def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        with _translated("reading dead letters"), self.db.read() as conn:
            if queue:
                rows = conn.execute(f"SELECT {sql.DEAD_COLUMNS} FROM dead WHERE queue = ? ORDER BY id "
                                    "LIMIT ?", (queue, limit)).fetchall()
            else:
                rows = conn.execute(f"SELECT {sql.DEAD_COLUMNS} FROM dead ORDER BY id LIMIT ?",
                                    (limit,)).fetchall()
        return [sql.row_to_dead(r) for r in rows]

    def _events_in(self, conn: sqlite3.Connection, events: Sequence[dict[str, Any]], now: float) -> None:
        conn.executemany(sql.INSERT_EVENT, [(now, sql.event_json(e)) for e in events])
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        if last is not None and last[0] > self._events_maxlen:
            conn.execute("DELETE FROM events WHERE id <= ?", (int(last[0]) - self._events_maxlen,))

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        if not events:
            return
        with _translated("emitting events"), self.db.write() as conn:
            self._events_in(conn, events, time.time())
