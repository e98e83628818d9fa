"""Connections of the embedded SQL transport, and how its waiters learn that something changed.

Two ways to hold the database, behind the same three calls (``write()``, ``read()``,
``changes()``):

* :class:`FileConnections` (``sqlite://``): one connection per thread (sqlite3 objects
  must not be shared between threads), WAL journal so readers never block the writer,
  ``busy_timeout`` so writers queue instead of failing, and ``BEGIN IMMEDIATE`` so a
  write transaction takes the write lock up front (a deferred one upgrading later could
  fail at once with SQLITE_BUSY). After ``fork()`` the child drops its parent's
  connections without closing them (closing would touch the parent's locks and WAL
  index) and opens its own.
* :class:`MemoryConnections` (``memory://``): one in-memory database per name, shared by
  every backend of this process that names it, used under one lock.

Waking waiters without a tight polling loop: every commit made through this module bumps
a per-process :class:`ChangeSignal` (a condition variable), so a waiter in the same
process (a result ``get()`` next to an in-process worker, a blocked fetch next to a
producer) wakes at once. Commits from *other* processes cannot notify a condition, so a
file waiter also reads ``PRAGMA data_version`` (a counter in shared memory that changes
when another connection commits: no disk read, a few microseconds) with a backoff that
grows to :data:`POLL_MAX_S`. That caps the cross-process wake-up latency at 50 ms while an
idle waiter costs about twenty tiny pragma calls a second. This module must not know the
tables: it only opens, locks and signals.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator

from celeriac.backends.sqlschema import MIGRATIONS, SCHEMA, SCHEMA_VERSION

POLL_MIN_S = 0.001  #: first pause of a cross-process waiter between data_version checks
POLL_MAX_S = 0.05  #: longest pause between data_version checks (cross-process wake-up bound)
LOCK_PAUSE_MIN_S = 0.0001  #: first pause before retrying BEGIN IMMEDIATE on a locked file
LOCK_PAUSE_MAX_S = 0.001  #: longest pause between BEGIN IMMEDIATE retries


class ChangeSignal:
    """A counter bumped after every commit of this process, with a condition to wait on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.seq = 0

    def bump(self) -> None:
        with self._cond:
            self.seq += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout_s: float) -> int:
        """Wait until the counter moves past ``seen`` or ``timeout_s`` passes; returns it."""
        with self._cond:
            if self.seq == seen and timeout_s > 0:
                self._cond.wait(timeout_s)
            return self.seq


_signals: dict[str, ChangeSignal] = {}
_writers: dict[str, threading.Lock] = {}
_signals_lock = threading.Lock()
_open_files: weakref.WeakSet[FileConnections] = weakref.WeakSet()
#: Connections inherited over fork(): kept referenced so they are never closed in the child.
_abandoned: list[sqlite3.Connection] = []


def signal_for(key: str) -> ChangeSignal:
    with _signals_lock:
        sig = _signals.get(key)
        if sig is None:
            sig = _signals[key] = ChangeSignal()
        return sig


def writer_lock_for(key: str) -> threading.Lock:
    """One lock per file and process: its threads take turns on the write lock here, at
    once, instead of in SQLite's busy handler (which sleeps whole milliseconds)."""
    with _signals_lock:
        lock = _writers.get(key)
        if lock is None:
            lock = _writers[key] = threading.Lock()
        return lock


def begin_immediate(conn: sqlite3.Connection, timeout_s: float) -> None:
    """``BEGIN IMMEDIATE``, retried with sub-millisecond pauses while another process writes.

    SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries; transactions here
    last well under a millisecond, so those sleeps, not the work, would set the pace of
    several processes sharing the file. The connection's busy timeout (which reads keep:
    a reader can meet a lock while another process closes or recovers the WAL) is dropped
    to 0 for the attempts and restored after; statements inside the transaction never wait.
    """
    deadline = time.monotonic() + timeout_s
    pause = LOCK_PAUSE_MIN_S
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(LOCK_PAUSE_MAX_S, pause * 2)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")


def _after_fork_in_child() -> None:
    global _signals_lock
    _signals_lock = threading.Lock()
    _signals.clear()
    _writers.clear()
    for files in list(_open_files):
        files._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """sqlite3 errors become ours: a busy/locked/unreachable file is a (retried) lost connection."""
    from celeriac.errors import BrokerError, ConnectionLost

    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if any(w in text for w in ("locked", "busy", "unable to open", "disk i/o")):
            raise ConnectionLost(f"sqlite database unavailable while {what}: {exc}") from exc
        raise BrokerError(f"sqlite error while {what}: {exc}") from exc
    except sqlite3.Error as exc:
        raise BrokerError(f"sqlite error while {what}: {exc}") from exc


def _ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, and add the columns a file made by an older celeriac lacks."""
    conn.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\n")
    try:
        for table, column, declaration in MIGRATIONS:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class FileConnections:
    """Per-thread connections to one database file (``sqlite://``)."""

    def __init__(self, path: str, *, busy_timeout_s: float, synchronous: str) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.synchronous = synchronous
        self.signal = signal_for(f"file:{os.path.realpath(path)}")
        self.writer = writer_lock_for(f"file:{os.path.realpath(path)}")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        self._schema_ready = False
        self._closed = False
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        _open_files.add(self)

    def _forget_after_fork(self) -> None:
        _abandoned.extend(conn for _t, conn in self._conns.values())
        self._conns = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self.signal = signal_for(f"file:{os.path.realpath(self.path)}")
        self.writer = writer_lock_for(f"file:{os.path.realpath(self.path)}")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA temp_store=MEMORY")
            if not self._schema_ready:
                _ensure_schema(conn)
                self._schema_ready = True
        except BaseException:
            conn.close()
            raise
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            from celeriac.errors import BrokerError

            raise BrokerError(f"sqlite backend for {self.path} is closed")
        conn = self._open()
        me = threading.current_thread()
        with self._lock:
            # Close the connections of threads that ended (pool threads come and go).
            for ident, (thread, old) in list(self._conns.items()):
                if not thread.is_alive():
                    old.close()
                    del self._conns[ident]
            self._conns[me.ident or 0] = (me, conn)
        self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short ``BEGIN IMMEDIATE`` transaction; waiters are told after the commit."""
        conn = self.connection()
        with self.writer:
            begin_immediate(conn, self.busy_timeout_s)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        self.signal.bump()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        yield self.connection()

    def data_version(self) -> int | None:
        """Changes when another connection (any process) commits; None never happens here."""
        row = self.connection().execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._closed = True
        with self._lock:
            conns, self._conns = self._conns, {}
        for _thread, conn in conns.values():
            conn.close()
        self._local = threading.local()


class _MemoryStore:
    def __init__(self, name: str) -> None:
        self.name = name
        self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        _ensure_schema(self.conn)
        self.lock = threading.RLock()
        self.signal = ChangeSignal()
        self.users = 0
        self.pid = os.getpid()


_stores: dict[str, _MemoryStore] = {}
_stores_lock = threading.Lock()


class MemoryConnections:
    """One in-memory database per name, shared within this process (``memory://``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        with _stores_lock:
            store = _stores.get(name)
            if store is None or store.pid != os.getpid():
                store = _stores[name] = _MemoryStore(name)
            store.users += 1
        self._store: _MemoryStore | None = store
        self.signal = store.signal

    def _get(self) -> _MemoryStore:
        from celeriac.errors import BrokerError

        store = self._store
        if store is None:
            raise BrokerError(f"memory://{self.name} backend is closed")
        if store.pid != os.getpid():
            raise BrokerError("the memory:// transport lives in one process and cannot cross fork(): "
                              "use the threads, asyncio or solo pool, or a sqlite:// or redis:// broker")
        return store

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        store = self._get()
        with store.lock:
            store.conn.execute("BEGIN")
            try:
                yield store.conn
            except BaseException:
                if store.conn.in_transaction:
                    store.conn.execute("ROLLBACK")
                raise
            store.conn.execute("COMMIT")
        store.signal.bump()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        store = self._get()
        with store.lock:
            yield store.conn

    def data_version(self) -> int | None:
        """None: only this process writes, and every write bumps :attr:`signal`."""
        return None

    def close(self) -> None:
        store, self._store = self._store, None
        if store is None or store.pid != os.getpid():
            return
        with _stores_lock:
            store.users -= 1
            if store.users <= 0:
                _stores.pop(store.name, None)
                with store.lock:
                    store.conn.close()
