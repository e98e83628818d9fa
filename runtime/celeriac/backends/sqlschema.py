"""The tables of the embedded SQL transport (``sqlite://`` and ``memory://``) and row mapping.

Kept apart from :mod:`celeriac.backends.sqlite` so that the schema is read in one place,
like the Redis key space at the top of ``backends/redis.py``. Pure: no connection is
opened here.

Tables::

    messages   one row per message, ready, delayed or held:
               id (AUTOINCREMENT: ids are never reused, so a late ack of a message that was
               handed back cannot delete its new copy), queue, priority (the step, 0/3/6/9),
               task_id, content_type, body, eta (epoch s; NULL once due and promoted),
               deliveries (earlier deliveries that counted), lease_owner (the consumer
               holding it; NULL when ready), lease_until (epoch s: last refresh +
               worker_lease_timeout), created (epoch s it became ready)
    results    one row per task id: the ResultRecord fields, ``extra`` as a JSON object
               (merged on update, as Redis' HSET merges fields), expires (epoch s or NULL)
    revoked    task_id -> until (epoch s)
    dead       dead letters: queue, task_id, reason, content_type, body, deliveries, time
    queues     names of every queue ever published to or consumed
    events     id, time, data (the event as a JSON object); trimmed to ``events_maxlen``
    dedup      task_id -> until: the publish-once guard of an explicit task id (dropped when
               the task is ready)
    once       task_id -> state (queued | finished), enqueued, queue, task, until: the
               enqueue-once marker (until: result_expires + delay after the enqueue, then
               2 x result_expires after the ready result; NULL: kept)
    running    consumer -> seq, in_flight, task_ids (newline-separated), expires: what each
               worker process runs now, written with its settlements
    chord_slots  (group_id, idx) -> value: a chord's joined header results
    chord_meta   group_id -> failed (first failure), fired (0/1: callback published), expires
    chord_extra  group_id -> extra (members added by Task.add_to_chord), expires (its own
                 table, so that files made before it need no migration)
    groups     group_id -> payload (a saved GroupResult), expires
    control    id, time, data: control commands (JSON); subscribers read rows past their cursor
    control_listeners  name -> seen: live control subscribers (what a publish counts)

``messages.history`` and ``dead.history`` hold one line per lost delivery
("<epoch ms> <holder>" or "<epoch ms> lease expired"), as the Redis entries' field does.

A message is acked by deleting its row. Handing a message back (requeue, a dead
consumer's release, reclaim) inserts a copy with a new id at the tail and deletes the
original, exactly as the Redis transport re-adds a stream entry.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from celeriac.backends.base import DeadLetter, Delivery, ResultRecord
from celeriac.errors import DecodeError

SCHEMA_VERSION = 2  #: bumped when a table changes shape

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    task_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    eta REAL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    created REAL NOT NULL,
    history TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, priority DESC, id)
    WHERE eta IS NULL AND lease_owner IS NULL;
CREATE INDEX IF NOT EXISTS messages_delayed ON messages (queue, eta) WHERE eta IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_leased ON messages (queue, lease_until)
    WHERE lease_owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS results (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    content_type TEXT NOT NULL,
    result BLOB,
    traceback TEXT,
    date_done REAL,
    task TEXT,
    worker TEXT,
    retries INTEGER NOT NULL DEFAULT 0,
    queue TEXT,
    parent_id TEXT,
    root_id TEXT,
    grp TEXT,
    children TEXT,
    extra TEXT,
    expires REAL
);
CREATE INDEX IF NOT EXISTS results_expires ON results (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS revoked (task_id TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    deliveries INTEGER NOT NULL,
    time REAL NOT NULL,
    history TEXT,
    priority INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dead_queue ON dead (queue, id);
CREATE TABLE IF NOT EXISTS dedup (task_id TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS once (
    task_id TEXT PRIMARY KEY, state TEXT NOT NULL, enqueued REAL NOT NULL, queue TEXT, task TEXT, until REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS running (
    consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL, in_flight INTEGER NOT NULL, task_ids TEXT NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chord_slots (
    group_id TEXT NOT NULL, idx INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (group_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chord_meta (
    group_id TEXT PRIMARY KEY, failed BLOB, fired INTEGER NOT NULL DEFAULT 0, expires REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chord_extra (
    group_id TEXT PRIMARY KEY, extra INTEGER NOT NULL, expires REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (group_id TEXT PRIMARY KEY, payload BLOB NOT NULL, expires REAL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS control (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_listeners (name TEXT PRIMARY KEY, seen REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

INSERT_MESSAGE = (
    "INSERT INTO messages (queue, priority, task_id, content_type, body, eta, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

#: Columns added after the first release of a table: (table, column, declaration).
MIGRATIONS = (
    ("messages", "history", "TEXT"),
    ("dead", "history", "TEXT"),
    ("dead", "priority", "INTEGER NOT NULL DEFAULT 0"),
)

#: Copies held rows to the tail (new ids): parameters deliveries to add, created, history
#: line to append (NULL: none), then the ids.
COPY_TO_TAIL = (
    "INSERT INTO messages (queue, priority, task_id, content_type, body, deliveries, created, history) "
    "SELECT queue, priority, task_id, content_type, body, deliveries + ?, ?, "
    "CASE WHEN ?3 IS NULL THEN history WHEN history IS NULL THEN ?3 ELSE history || char(10) || ?3 END "
    "FROM messages WHERE id IN ({ids}) AND lease_owner IS NOT NULL ORDER BY id"
)

#: Why a message that kept losing its worker is dead-lettered (the Redis scripts' words).
def lost_reason(deliveries: int, history: list[str]) -> str:
    """Why a message is dead-lettered after its deliveries, from its history lines (as
    ``requeue.lua``/``reclaim.lua`` word it): crashes point at the message, lost leases at nodes."""
    crashed = sum(1 for h in history if " lease expired" not in h and (" crashed" in h or " killed" in h))
    lost = sum(1 for h in history if " lease expired" in h)
    other = sum(1 for h in history if h) - crashed - lost
    parts = []
    if crashed:
        parts.append(f"its worker process died {crashed} time(s) running it")
    if lost:
        parts.append(f"its lease expired {lost} time(s) (worker node lost or frozen)")
    if other:
        parts.append(f"handed back unfinished {other} time(s)")
    why = ", ".join(parts)
    if crashed and not lost and not other:
        why += ": a poison message?"
    return f"delivered {deliveries} times without being acknowledged ({why}; see history)"

#: Moves one message row to the dead letters: parameters reason, time, deliveries to add,
#: history line to append (NULL: none), id.
TO_DEAD = (
    "INSERT INTO dead (queue, task_id, reason, content_type, body, deliveries, time, history, priority) "
    "SELECT queue, task_id, ?, content_type, body, deliveries + ?, ?, "
    "CASE WHEN ?4 IS NULL THEN history WHEN history IS NULL THEN ?4 ELSE history || char(10) || ?4 END, "
    "priority FROM messages WHERE id = ?"
)

UPSERT_RESULT = """
INSERT INTO results (task_id, status, content_type, result, traceback, date_done, task, worker,
                     retries, queue, parent_id, root_id, grp, children, extra, expires)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (task_id) DO UPDATE SET
    status = excluded.status, content_type = excluded.content_type, result = excluded.result,
    traceback = excluded.traceback, date_done = excluded.date_done, task = excluded.task,
    worker = excluded.worker, retries = excluded.retries, queue = excluded.queue,
    parent_id = excluded.parent_id, root_id = excluded.root_id, grp = excluded.grp,
    children = coalesce(excluded.children, results.children),
    extra = CASE WHEN excluded.extra IS NULL THEN results.extra
                 ELSE json_patch(coalesce(results.extra, '{}'), excluded.extra) END,
    expires = excluded.expires
"""

RESULT_COLUMNS = (
    "status, content_type, result, traceback, date_done, task, worker, retries, queue, "
    "parent_id, root_id, grp, children, extra"
)

DEAD_COLUMNS = "id, queue, task_id, reason, content_type, body, deliveries, time, history"

INSERT_EVENT = "INSERT INTO events (time, data) VALUES (?, ?)"


def placeholders(n: int) -> str:
    return ",".join("?" * n)


def result_row(record: ResultRecord, expires: float | None) -> tuple[Any, ...]:
    """The parameters of :data:`UPSERT_RESULT` for one record."""
    return (
        record.task_id, record.status, record.content_type, record.result, record.traceback,
        record.date_done, record.task, record.worker, record.retries, record.queue,
        record.parent_id, record.root_id, record.group,
        json.dumps(record.children) if record.children else None,
        json.dumps(record.extra) if record.extra else None,
        expires,
    )


def row_to_record(task_id: str, row: sqlite3.Row | tuple[Any, ...] | None) -> ResultRecord | None:
    """A :class:`ResultRecord` from the :data:`RESULT_COLUMNS` of one row.

    Raises :class:`DecodeError` for a row that is not such a record."""
    if row is None:
        return None
    try:
        return _row_to_record(task_id, row)
    except Exception as exc:
        raise DecodeError(f"result record of {task_id} is malformed: {type(exc).__name__}: {exc}") from None


def _row_to_record(task_id: str, row: sqlite3.Row | tuple[Any, ...]) -> ResultRecord:
    (status, content_type, result, traceback, date_done, task, worker, retries, queue,
     parent_id, root_id, grp, children, extra) = row
    return ResultRecord(
        task_id=task_id, status=status, result=bytes(result) if result is not None else None,
        content_type=content_type, traceback=traceback or None, date_done=date_done,
        task=task or None, worker=worker or None, retries=int(retries or 0), queue=queue or None,
        parent_id=parent_id or None, root_id=root_id or None, group=grp or None,
        children=json.loads(children) if children else None,
        extra={str(k): str(v) for k, v in json.loads(extra).items()} if extra else {},
    )


def row_to_delivery(row: tuple[Any, ...], revoked: bool) -> Delivery:
    """A delivery from ``id, queue, priority, task_id, content_type, body, deliveries``.

    Columns as a stranger may have written them (SQLite keeps any type in any column): a
    ``deliveries`` that is not a count makes the delivery ``invalid`` (a dead letter), the
    other columns fall back to what the worker can reject with a reason."""
    mid, queue, priority, task_id, content_type, body, deliveries = row
    invalid = None
    if not isinstance(deliveries, int) or isinstance(deliveries, bool) or deliveries < 0:
        invalid, deliveries = "column 'deliveries' is not a non-negative integer", 0
    if isinstance(body, str):
        body = body.encode()
    return Delivery(queue=queue, priority=priority if isinstance(priority, int) and 0 <= priority <= 9 else 0,
                    message_id=str(mid), task_id=task_id if isinstance(task_id, str) else "",
                    content_type=content_type if isinstance(content_type, str) else "application/json",
                    body=bytes(body) if isinstance(body, bytes | memoryview) else b"",
                    deliveries=deliveries + 1, revoked=revoked, invalid=invalid)


def row_to_dead(row: tuple[Any, ...]) -> DeadLetter:
    mid, queue, task_id, reason, content_type, body, deliveries, when, history = row
    return DeadLetter(message_id=str(mid), queue=queue, task_id=task_id, reason=reason,
                      content_type=content_type, body=bytes(body), deliveries=int(deliveries),
                      time=float(when), history=tuple(history.splitlines()) if history else ())


def event_json(event: dict[str, Any]) -> str:
    """An event as stored: a JSON object (values that JSON cannot hold become strings)."""
    return json.dumps(event, default=str, separators=(",", ":"))
