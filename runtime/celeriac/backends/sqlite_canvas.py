"""The canvas part of the SQLite (and memory) transport: chord joins and saved groups.

Why it exists: the same semantics as the ``chords`` section of ``lua/settle.lua``, so
chords work on the embedded default too. A finished header task stores its value in
slot ``index`` of the chord (idempotent on redelivery); the settle that fills the last
slot, or records the first failure, publishes the callback, exactly once (``fired``),
counting the members ``Task.add_to_chord`` added (``chord_extra``),
inside the settle's own transaction. It is a mixin of ``SQLiteBackend`` (it uses its
``db``, ``_publish_in`` and result expiry). What it must not do: decode values (they are
opaque ``<content type>\\n<payload>`` bytes, as in Redis) or open its own transactions
for the join (the caller's settle transaction makes it atomic with the ack).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from celeriac.backends.base import ChordJoin, ChordState, Outgoing
from celeriac.backends.sqlconn import translated

if TYPE_CHECKING:
    from celeriac.backends.sqlconn import FileConnections, MemoryConnections

#: How long a chord's joined results live when results never expire (as in redis.py).
CHORD_TTL_DEFAULT_S = 7 * 86400


class SQLiteCanvas:
    """Chord and group methods for ``SQLiteBackend`` (mixin)."""

    db: FileConnections | MemoryConnections
    _result_ttl: float | None

    def _publish_in(self, conn: sqlite3.Connection, messages: Sequence[Outgoing], now: float) -> None:
        raise NotImplementedError  # provided by SQLiteBackend

    def _chords_in(self, conn: sqlite3.Connection, joins: Sequence[ChordJoin], now: float) -> None:
        """Count header results inside a settle transaction; fire completed chords once."""
        expires = now + (self._result_ttl or CHORD_TTL_DEFAULT_S)
        for c in joins:
            if c.failed:
                conn.execute("INSERT INTO chord_meta (group_id, failed, expires) VALUES (?, ?, ?) "
                             "ON CONFLICT (group_id) DO UPDATE SET failed = coalesce(chord_meta.failed, "
                             "excluded.failed), expires = excluded.expires", (c.group_id, c.result, expires))
                complete = True
            else:
                conn.execute("INSERT OR REPLACE INTO chord_slots (group_id, idx, value) VALUES (?, ?, ?)",
                             (c.group_id, c.index, c.result))
                conn.execute("INSERT INTO chord_meta (group_id, expires) VALUES (?, ?) ON CONFLICT (group_id) "
                             "DO UPDATE SET expires = excluded.expires", (c.group_id, expires))
                (filled,) = conn.execute("SELECT count(*) FROM chord_slots WHERE group_id = ?",
                                         (c.group_id,)).fetchone()
                complete = int(filled) >= c.size + self._extra_in(conn, c.group_id, now)
            if complete and conn.execute("UPDATE chord_meta SET fired = 1 WHERE group_id = ? AND fired = 0",
                                         (c.group_id,)).rowcount == 1 and c.callback:
                self._publish_in(conn, c.callback, now)

    @staticmethod
    def _extra_in(conn: sqlite3.Connection, group_id: str, now: float) -> int:
        row = conn.execute("SELECT extra FROM chord_extra WHERE group_id = ? AND expires > ?",
                           (group_id, now)).fetchone()
        return int(row[0]) if row is not None else 0

    def get_chord(self, group_id: str) -> ChordState:
        now = time.time()
        with translated("reading a chord's results"), self.db.read() as conn:
            rows = conn.execute("SELECT idx, value FROM chord_slots WHERE group_id = ?", (group_id,)).fetchall()
            meta = conn.execute("SELECT failed FROM chord_meta WHERE group_id = ? AND expires > ?",
                                (group_id, now)).fetchone()
            extra = self._extra_in(conn, group_id, now)
        failure = bytes(meta[0]) if meta is not None and meta[0] is not None else None
        return ChordState(values={int(i): bytes(v) for i, v in rows}, failure=failure, extra=extra)

    def grow_chord(self, group_id: str) -> int:
        now = time.time()
        expires = now + (self._result_ttl or CHORD_TTL_DEFAULT_S)
        with translated("adding a member to a chord"), self.db.write() as conn:
            conn.execute("DELETE FROM chord_extra WHERE group_id = ? AND expires <= ?", (group_id, now))
            (extra,) = conn.execute("INSERT INTO chord_extra (group_id, extra, expires) VALUES (?, 1, ?) "
                                    "ON CONFLICT (group_id) DO UPDATE SET extra = chord_extra.extra + 1, "
                                    "expires = excluded.expires RETURNING extra", (group_id, expires)).fetchone()
        return int(extra)

    def save_group(self, group_id: str, payload: bytes) -> None:
        expires = time.time() + self._result_ttl if self._result_ttl else None
        with translated("saving a group result"), self.db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO groups (group_id, payload, expires) VALUES (?, ?, ?)",
                         (group_id, payload, expires))

    def get_group(self, group_id: str) -> bytes | None:
        with translated("reading a group result"), self.db.read() as conn:
            row = conn.execute("SELECT payload FROM groups WHERE group_id = ? AND (expires IS NULL OR "
                               "expires > ?)", (group_id, time.time())).fetchone()
        return bytes(row[0]) if row is not None else None

    def forget_group(self, group_id: str) -> None:
        with translated("forgetting a group result"), self.db.write() as conn:
            conn.execute("DELETE FROM groups WHERE group_id = ?", (group_id,))
