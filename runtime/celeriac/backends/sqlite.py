"""The embedded transport: broker and result store in one SQLite file (``sqlite://``).

For one machine and no server: several worker processes and producers share the file
safely (WAL, ``busy_timeout``, short ``BEGIN IMMEDIATE`` transactions, one connection
per thread, fork-safe) with the semantics of the Redis transport: leases that follow
worker heartbeats, redelivery of a dead worker's messages with a delivery count,
dead-letter after ``task_max_deliveries``, delayed messages, priority steps, revocation,
result expiry. Each operation is one transaction: a fetch promotes due delayed messages
and leases a whole batch; a settle writes acks, results, follow-up messages, dead
letters and events of a whole batch at once.

URLs follow SQLAlchemy: ``sqlite:///relative/path.db`` (relative to the working
directory) and ``sqlite:////absolute/path.db``. ``broker_transport_options`` may set
``busy_timeout`` (seconds, default 30) and ``synchronous`` (``NORMAL`` by default: with
WAL it survives a process crash; ``FULL`` also survives a power cut, at a cost).

Only the standard library's ``sqlite3`` is used. Tables: :mod:`celeriac.backends.sqlschema`;
connections and wake-ups: :mod:`celeriac.backends.sqlconn`; revocation, stats, dead-letter
listing and events: ``sqlite_admin``; chords: ``sqlite_canvas``; publish-once, dead-letter
admin, control channel: ``sqlite_ops``; observability: ``sqlite_observe``; enqueue once,
lookup, queue statistics, live workers: ``sqlite_inspect``; beat:
``sqlite_schedules``. This module must not hold a
transaction open while it waits for anything.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from celeriac import states
from celeriac.backends import sqlschema as sql
from celeriac.backends.base import (
    ChordJoin,
    Delivery,
    Outgoing,
    ResultRecord,
    RunningSnapshot,
    Settlement,
    priority_step,
)
from celeriac.backends.sqlconn import (
    POLL_MAX_S,
    POLL_MIN_S,
    FileConnections,
    MemoryConnections,
    translated,
)
from celeriac.backends.sqlite_admin import SQLiteAdmin
from celeriac.backends.sqlite_canvas import SQLiteCanvas
from celeriac.backends.sqlite_inspect import SQLiteInspect
from celeriac.backends.sqlite_observe import SQLiteObserve
from celeriac.backends.sqlite_ops import SQLiteOps
from celeriac.backends.sqlite_schedules import SQLiteSchedules
from celeriac.config import Settings
from celeriac.errors import ConfigurationError

logger = logging.getLogger(__name__)

T = TypeVar("T")

RECLAIM_BATCH = 1000  #: stalled messages handed back per reclaim call
HOUSEKEEPING_S = 30.0  #: how often reclaim also drops expired results and revocations


def path_from_url(url: str) -> str:
    """The file of a ``sqlite://`` URL (SQLAlchemy's form: three slashes, then the path)."""
    if not url.lower().startswith("sqlite:///"):
        raise ConfigurationError(f"setting 'broker_url': a sqlite URL is sqlite:///relative.db or "
                                 f"sqlite:////absolute/path.db, got {url!r}")
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigurationError(f"setting 'broker_url': {url!r} names no file (for an in-process "
                                 f"transport use memory://)")
    return path


_translated = translated


class SQLiteBackend(SQLiteAdmin, SQLiteCanvas, SQLiteOps, SQLiteObserve, SQLiteInspect, SQLiteSchedules):
    """Broker and result store in one SQLite database (``sqlite://``)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self._result_ttl = settings.result_expires
        self._events_maxlen = settings.events_maxlen
        self._lease_s = settings.worker_lease_timeout
        self._next_housekeeping = 0.0
        self._known: set[str] = set()
        self.db: FileConnections | MemoryConnections = self._connect(url, settings)

    def _connect(self, url: str, settings: Settings) -> FileConnections | MemoryConnections:
        options = settings.broker_transport_options or {}
        synchronous = str(options.get("synchronous", "NORMAL")).upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(f"setting 'broker_transport_options': synchronous={synchronous!r} "
                                     "is not OFF, NORMAL, FULL or EXTRA")
        return FileConnections(path_from_url(url), busy_timeout_s=float(options.get("busy_timeout", 30.0)),
                               synchronous=synchronous)

    # -- waiting -----------------------------------------------------------------------------

    def _block(self, probe: Callable[[], T | None], timeout_s: float | None) -> T | None:
        """Run ``probe`` until it returns something, waking on changes (see ``sqlconn``)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        signal = self.db.signal
        seen = signal.seq
        version = self.db.data_version()
        found = probe()
        pause = POLL_MIN_S
        while found is None:
            left = POLL_MAX_S * 100 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return None
            wait = left if version is None else min(pause, left)
            now_seq = signal.wait(seen, wait)
            changed = now_seq != seen
            seen = now_seq
            if version is not None:
                new_version = self.db.data_version()
                changed = changed or new_version != version
                version = new_version
            if changed:
                pause = POLL_MIN_S
                found = probe()
            else:
                pause = min(POLL_MAX_S, pause * 2)
        return found

    # -- producing ---------------------------------------------------------------------------

    def _publish_in(self, conn: sqlite3.Connection, messages: Sequence[Outgoing], now: float) -> None:
        rows = []
        for m in messages:
            eta = m.eta if m.eta is not None and m.eta > now else None
            rows.append((m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body, eta, now))
        conn.executemany(sql.INSERT_MESSAGE, rows)
        new = {m.queue for m in messages} - self._known
        if new:
            conn.executemany("INSERT OR IGNORE INTO queues (name) VALUES (?)", [(q,) for q in new])
            self._known |= new

    def publish(self, messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        with _translated("publishing"), self.db.write() as conn:
            self._publish_in(conn, messages, time.time())

    def publish_with_events(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]]) -> None:
        """Publish and append events (``task-sent``) in one transaction."""
        if not messages and not events:
            return
        now = time.time()
        with _translated("publishing"), self.db.write() as conn:
            if messages:
                self._publish_in(conn, messages, now)
            if events:
                self._events_in(conn, events, now)

    # -- consuming ---------------------------------------------------------------------------

    def ensure_queues(self, queues: Iterable[str]) -> None:
        new = set(queues) - self._known
        if not new:
            return
        with _translated("registering queues"), self.db.write() as conn:
            conn.executemany("INSERT OR IGNORE INTO queues (name) VALUES (?)", [(q,) for q in new])
        self._known |= new

    def _anything_ready(self, queues: Sequence[str], now: float) -> bool:
        """A read-only look, so an idle waiter never takes the write lock for nothing."""
        marks = sql.placeholders(len(queues))
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM messages WHERE queue IN ({marks}) AND eta IS NULL "
                f"AND lease_owner IS NULL) OR EXISTS (SELECT 1 FROM messages WHERE queue IN ({marks}) "
                f"AND eta IS NOT NULL AND eta <= ?)", (*queues, *queues, now)).fetchone()
        return bool(row[0])

    def _fetch_now(self, queues: Sequence[str], consumer: str, count: int) -> list[Delivery]:
        now = time.time()
        with self.db.write() as conn:
            for q in queues:
                conn.execute("UPDATE messages SET eta = NULL, created = ? WHERE queue = ? AND "
                             "eta IS NOT NULL AND eta <= ?", (now, q, now))
            picked: list[tuple[int, int, int]] = []
            for rank, q in enumerate(queues):
                for mid, prio in conn.execute(
                        "SELECT id, priority FROM messages WHERE queue = ? AND eta IS NULL AND "
                        "lease_owner IS NULL ORDER BY priority DESC, id LIMIT ?", (q, count)):
                    picked.append((-prio, rank, mid))
            if not picked:
                return []
            picked.sort()
            ids = [mid for _p, _r, mid in picked[:count]]
            rows = conn.execute(
                f"UPDATE messages SET lease_owner = ?, lease_until = ? WHERE id IN "
                f"({sql.placeholders(len(ids))}) RETURNING id, queue, priority, task_id, content_type, "
                f"body, deliveries", (consumer, now + self._lease_s, *ids)).fetchall()
            task_ids = list({r[3] for r in rows})
            revoked = {r[0] for r in conn.execute(
                f"SELECT task_id FROM revoked WHERE task_id IN ({sql.placeholders(len(task_ids))}) "
                f"AND until > ?", (*task_ids, now))}
        order = {mid: i for i, mid in enumerate(ids)}
        rows.sort(key=lambda r: order[r[0]])
        return [sql.row_to_delivery(r, r[3] in revoked) for r in rows]

    def fetch(self, queues: Sequence[str], consumer: str, count: int, timeout_s: float) -> list[Delivery]:
        if not queues or count <= 0:
            return []
        self.ensure_queues(queues)
        with _translated("fetching"):
            out = self._fetch_now(queues, consumer, count)
            if out or timeout_s <= 0:
                return out
            due = self.next_delayed_due(queues)
            wait = timeout_s if due is None else max(0.0, min(timeout_s, due - time.time()))

            def probe() -> list[Delivery] | None:
                if not self._anything_ready(queues, time.time()):
                    return None
                return self._fetch_now(queues, consumer, count) or None

            return self._block(probe, wait) or []

    def settle(self, settlements: Sequence[Settlement], running: RunningSnapshot | None = None) -> None:
        if not settlements and running is None:
            return
        acks: list[int] = []
        dead: list[tuple[str, int]] = []
        results: list[ResultRecord] = []
        publish: list[Outgoing] = []
        events: list[dict[str, Any]] = []
        chords: list[ChordJoin] = []
        for s in settlements:
            if s.chord is not None:
                chords.append(s.chord)
            d = s.delivery
            if d is not None:
                if s.dead_letter_reason is not None:
                    dead.append((s.dead_letter_reason, int(d.message_id)))
                else:
                    acks.append(int(d.message_id))
            if s.result is not None:
                results.append(s.result)
            results.extend(s.more_results)
            publish.extend(s.publish)
            events.extend(s.events)
        now = time.time()
        with _translated("settling finished tasks"), self.db.write() as conn:
            if publish:
                self._publish_in(conn, publish, now)
            if results:
                self._results_in(conn, results, now)
            if chords:
                self._chords_in(conn, chords, now)
            for reason, mid in dead:
                conn.execute(sql.TO_DEAD, (reason, 1, now, None, mid))
                conn.execute("DELETE FROM messages WHERE id = ?", (mid,))
            acked = 0
            for i in range(0, len(acks), 500):
                chunk = acks[i:i + 500]
                acked += conn.execute(f"DELETE FROM messages WHERE id IN ({sql.placeholders(len(chunk))}) "
                                      "AND lease_owner IS NOT NULL", chunk).rowcount
            if events:
                self._events_in(conn, events, now)
            if running is not None:
                self._running_in(conn, running, now)
        if acked < len(acks):
            logger.warning("%d acked message(s) were no longer held by this worker (reclaimed after "
                           "a lost lease): they may have run twice", len(acks) - acked)

    def _requeue_ids(self, conn: sqlite3.Connection, ids: Sequence[int], *, count_delivery: bool,
                     holder: str = "-", max_deliveries: int | None = None) -> tuple[int, int]:
        """Hand held rows back to the tail; returns (requeued, dead-lettered).

        A counted hand-back (the holder died or its lease expired) appends a history line
        and dead-letters the message once it has been delivered ``max_deliveries`` times
        (``task_max_deliveries`` by default; 0: never), as the Redis scripts do.
        """
        now = time.time()
        line = f"{int(now * 1000)} {holder or '-'}" if count_delivery else None
        limit = self.settings.task_max_deliveries if max_deliveries is None else max_deliveries
        back = list(ids)
        dead = 0
        if count_delivery and limit > 0:
            marks = sql.placeholders(len(back))
            rows = conn.execute(f"SELECT id, deliveries, history FROM messages WHERE id IN ({marks}) AND "
                                "lease_owner IS NOT NULL", back).fetchall() if back else []
            # a count a stranger wrote as text counts 0 (the worker dead-letters it on fetch)
            rows = [(mid, n if isinstance(n, int) else 0, h if isinstance(h, str) else None) for mid, n, h in rows]
            poison = {mid for mid, n, _h in rows if n + 1 >= limit}
            for mid, n, history in rows:
                if mid in poison:
                    lines = [*(history or "").splitlines(), line or ""]
                    conn.execute(sql.TO_DEAD, (sql.lost_reason(n + 1, lines), 1, now, line, mid))
                    conn.execute("DELETE FROM messages WHERE id = ?", (mid,))
                    dead += 1
            back = [mid for mid in back if mid not in poison]
        requeued = 0
        for i in range(0, len(back), 500):
            chunk = back[i:i + 500]
            marks = sql.placeholders(len(chunk))
            conn.execute(sql.COPY_TO_TAIL.format(ids=marks), (1 if count_delivery else 0, now, line, *chunk))
            requeued += conn.execute(f"DELETE FROM messages WHERE id IN ({marks}) AND lease_owner IS NOT NULL",
                                     chunk).rowcount
        return requeued, dead

    def requeue(self, deliveries: Sequence[Delivery], *, count_delivery: bool = False) -> None:
        if not deliveries:
            return
        with _translated("requeueing"), self.db.write() as conn:
            self._requeue_ids(conn, [int(d.message_id) for d in deliveries], count_delivery=count_delivery)

    def refresh_leases(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        ids = [int(d.message_id) for d in deliveries]
        until = time.time() + self._lease_s
        with _translated("refreshing leases"), self.db.write() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                conn.execute(f"UPDATE messages SET lease_owner = ?, lease_until = ? WHERE id IN "
                             f"({sql.placeholders(len(chunk))}) AND lease_owner IS NOT NULL",
                             (consumer, until, *chunk))

    def release_consumer(self, queues: Sequence[str], consumer: str, *, count_delivery: bool,
                         cause: str = "crashed") -> int:
        """Requeue every message ``consumer`` holds (it exited)."""
        if not queues:
            return 0
        with _translated("releasing a consumer's messages"), self.db.write() as conn:
            ids = [r[0] for r in conn.execute(
                f"SELECT id FROM messages WHERE queue IN ({sql.placeholders(len(queues))}) AND "
                "lease_owner = ? ORDER BY id", (*queues, consumer))]
            if not ids:
                return 0
            return sum(self._requeue_ids(conn, ids, count_delivery=count_delivery, holder=f"{consumer} {cause}"))

    def reclaim(self, queues: Sequence[str], idle_s: float, max_deliveries: int) -> int:
        """Hand back messages not refreshed for ``idle_s``; dead-letter the poison ones."""
        if not queues:
            return 0
        now = time.time()
        # lease_until = last refresh + lease_s, so "not refreshed for idle_s" reads:
        stale = now - idle_s + self._lease_s
        requeued = dead = 0
        with _translated("reclaiming stalled messages"), self.db.write() as conn:
            ids = [r[0] for r in conn.execute(
                f"SELECT id FROM messages WHERE queue IN ({sql.placeholders(len(queues))}) "
                "AND lease_owner IS NOT NULL AND lease_until <= ? ORDER BY id LIMIT ?",
                (*queues, stale, RECLAIM_BATCH))]
            if ids:
                requeued, dead = self._requeue_ids(conn, ids, count_delivery=True,
                                                   holder="lease expired (its worker stopped refreshing it)",
                                                   max_deliveries=max(1, max_deliveries))
            if now >= self._next_housekeeping:
                conn.execute("DELETE FROM results WHERE expires IS NOT NULL AND expires <= ?", (now,))
                conn.execute("DELETE FROM revoked WHERE until <= ?", (now,))
                conn.execute("DELETE FROM dedup WHERE until <= ?", (now,))
                conn.execute("DELETE FROM once WHERE until IS NOT NULL AND until <= ?", (now,))
                conn.execute("DELETE FROM running WHERE expires <= ?", (now,))
                conn.execute("DELETE FROM groups WHERE expires IS NOT NULL AND expires <= ?", (now,))
                conn.execute("DELETE FROM chord_slots WHERE group_id IN (SELECT group_id FROM chord_meta "
                             "WHERE expires <= ?)", (now,))
                conn.execute("DELETE FROM chord_meta WHERE expires <= ?", (now,))
                conn.execute("DELETE FROM chord_extra WHERE expires <= ?", (now,))
                self._next_housekeeping = now + HOUSEKEEPING_S
        if requeued or dead:
            logger.warning("reclaimed %d stalled message(s), dead-lettered %d", requeued, dead)
        return requeued + dead

    def next_delayed_due(self, queues: Sequence[str]) -> float | None:
        if not queues:
            return None
        with _translated("reading delayed messages"), self.db.read() as conn:
            row = conn.execute(f"SELECT min(eta) FROM messages WHERE queue IN ({sql.placeholders(len(queues))}) "
                               "AND eta IS NOT NULL", tuple(queues)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    # -- results -----------------------------------------------------------------------------

    def _results_in(self, conn: sqlite3.Connection, records: Sequence[ResultRecord], now: float) -> None:
        expires = now + self._result_ttl if self._result_ttl else None
        conn.executemany(sql.UPSERT_RESULT, [sql.result_row(r, expires) for r in records])
        # A ready task lifts its publish-once guard (see publish_once) and flips its
        # enqueue-once marker to finished, which outlives the record (sqlite_inspect).
        ready = [(r.task_id,) for r in records if r.status in states.READY_STATES]
        if ready:
            conn.executemany("DELETE FROM dedup WHERE task_id = ?", ready)
            self._finish_once_in(conn, ready, now)

    def store_result(self, record: ResultRecord) -> None:
        with _translated("storing a result"), self.db.write() as conn:
            self._results_in(conn, [record], time.time())

    def get_result(self, task_id: str) -> ResultRecord | None:
        with _translated("reading a result"), self.db.read() as conn:
            row = conn.execute(f"SELECT {sql.RESULT_COLUMNS} FROM results WHERE task_id = ? AND "
                               "(expires IS NULL OR expires > ?)", (task_id, time.time())).fetchone()
        return sql.row_to_record(task_id, row)

    def get_results(self, task_ids: Sequence[str]) -> list[ResultRecord | None]:
        return [self.get_result(t) for t in task_ids]

    def wait_result(self, task_id: str, timeout_s: float | None) -> ResultRecord | None:
        def probe() -> ResultRecord | None:
            record = self.get_result(task_id)
            return record if record is not None and record.status in states.READY_STATES else None

        with _translated("waiting for a result"):
            found = self._block(probe, timeout_s)
        return found if found is not None else self.get_result(task_id)

    def forget(self, task_id: str) -> None:
        with _translated("forgetting a result"), self.db.write() as conn:
            conn.execute("DELETE FROM results WHERE task_id = ?", (task_id,))

    def close(self) -> None:
        self.db.close()

