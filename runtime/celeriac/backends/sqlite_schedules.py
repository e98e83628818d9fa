"""The beat's part of the SQLite (and memory) transport: registry, lease, fenced commit.

Why it exists: the same ``Backend`` ``schedule_*``/``beat_*`` methods as
``redis_schedules.py``, so a beat runs on ``sqlite://`` and ``memory://`` too. It is a mixin
of ``SQLiteBackend`` (it uses its ``db`` connections, ``_publish_in`` and ``_block``).
Atomicity comes from SQLite's write transaction (``BEGIN IMMEDIATE``): the lease check,
the state compare-and-set and the publish of one commit happen in one transaction. What
it must not do: interpret specs or states (opaque JSON text, as in Redis).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from celeriac.backends.base import Outgoing
from celeriac.errors import BrokerError

if TYPE_CHECKING:
    from celeriac.backends.sqlconn import FileConnections, MemoryConnections

T = TypeVar("T")

#: Tables of the beat (created on first use; the registry's JSON is the same as Redis's).
SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS beat_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL)
    WITHOUT ROWID;
"""


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise BrokerError(f"sqlite error while {what}: {exc}") from exc


class SQLiteSchedules:
    """Beat methods for ``SQLiteBackend`` (mixin)."""

    db: FileConnections | MemoryConnections
    _beat_schema_ready: bool = False

    def _publish_in(self, conn: sqlite3.Connection, messages: Sequence[Outgoing], now: float) -> None:
        raise NotImplementedError  # provided by SQLiteBackend

    def _block(self, probe: Callable[[], T | None], timeout_s: float | None) -> T | None:
        raise NotImplementedError  # provided by SQLiteBackend

    @contextlib.contextmanager
    def _beat_write(self, what: str) -> Iterator[sqlite3.Connection]:
        with _translated(what), self.db.write() as conn:
            if not self._beat_schema_ready:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                self._beat_schema_ready = True
            yield conn

    def _bump(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO beat_meta (key, value) VALUES ('changes', '1') ON CONFLICT(key) "
                     "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)")

    def schedule_put(self, name: str, spec: str) -> None:
        with self._beat_write("writing a schedule") as conn:
            conn.execute("INSERT INTO schedules (name, spec) VALUES (?, ?) ON CONFLICT(name) "
                         "DO UPDATE SET spec = excluded.spec", (name, spec))
            self._bump(conn)

    def schedule_delete(self, name: str) -> bool:
        with self._beat_write("removing a schedule") as conn:
            n = conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount
            self._bump(conn)
        return bool(n)

    def schedule_read(self, names: Sequence[str] | None = None) -> dict[str, tuple[str, str | None]]:
        with self._beat_write("reading schedules") as conn:
            rows = conn.execute("SELECT name, spec, state FROM schedules ORDER BY name").fetchall()
        wanted = None if names is None else set(names)
        return {str(n): (str(s), st) for n, s, st in rows if wanted is None or n in wanted}

    def schedule_wait(self, cursor: str, timeout_s: float) -> str:
        def current() -> str:
            with self._beat_write("waiting for schedule changes") as conn:
                row = conn.execute("SELECT value FROM beat_meta WHERE key = 'changes'").fetchone()
            return str(row[0]) if row else "0"

        start = cursor or current()
        found = self._block(lambda: (c if (c := current()) != start else None), timeout_s)
        return found if found is not None else start

    def schedule_commit(self, name: str, *, fence: tuple[str, int] | None, expect_state: str | None,
                        new_state: str, publish: Sequence[Outgoing] = (), require_enabled: bool = True) -> int:
        import json

        now = time.time()
        with self._beat_write("firing a schedule") as conn:
            if fence is not None:
                row = conn.execute("SELECT value, expires FROM beat_meta WHERE key = 'lease'").fetchone()
                if row is None or row[1] <= now or row[0] != f"{fence[1]} {fence[0]}":
                    return -1
            row = conn.execute("SELECT spec, state FROM schedules WHERE name = ?", (name,)).fetchone()
            if row is None:
                return -2
            if require_enabled:
                try:
                    spec: Any = json.loads(row[0])
                except ValueError:
                    spec = {}
                if isinstance(spec, dict) and spec.get("enabled") is False:
                    return -3
            if (row[1] or "") != (expect_state or ""):
                return 0
            if publish:
                self._publish_in(conn, publish, now)
            conn.execute("UPDATE schedules SET state = ? WHERE name = ?", (new_state, name))
        return 1

    def beat_acquire(self, holder: str, ttl_s: float) -> int | None:
        now = time.time()
        with self._beat_write("taking the beat lease") as conn:
            row = conn.execute("SELECT expires FROM beat_meta WHERE key = 'lease'").fetchone()
            if row is not None and row[0] > now:
                return None
            conn.execute("INSERT INTO beat_meta (key, value) VALUES ('token', '1') ON CONFLICT(key) "
                         "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)")
            token = int(conn.execute("SELECT value FROM beat_meta WHERE key = 'token'").fetchone()[0])
            conn.execute("INSERT OR REPLACE INTO beat_meta (key, value, expires) VALUES ('lease', ?, ?)",
                         (f"{token} {holder}", now + ttl_s))
        return token

    def beat_renew(self, holder: str, token: int, ttl_s: float) -> bool:
        now = time.time()
        with self._beat_write("renewing the beat lease") as conn:
            n = conn.execute("UPDATE beat_meta SET expires = ? WHERE key = 'lease' AND value = ? AND expires > ?",
                             (now + ttl_s, f"{token} {holder}", now)).rowcount
        return bool(n)

    def beat_release(self, holder: str, token: int) -> None:
        with self._beat_write("releasing the beat lease") as conn:
            conn.execute("DELETE FROM beat_meta WHERE key = 'lease' AND value = ?", (f"{token} {holder}",))
