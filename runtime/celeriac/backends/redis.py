"""The Redis transport: the only module that imports ``redis``.

Key space (``{q}`` is a queue name, ``{id}`` a task id)::

    celeriac:queue:{q}          stream of ready messages, priority step 0 (the default)
    celeriac:queue:{q}:p{3,6,9} streams of the more urgent priority steps
                                one consumer group ``celeriac`` per stream; entry fields:
                                id, content-type, body [, deliveries]
    celeriac:delayed:{q}        zset of messages waiting for their ETA (score: epoch ms);
                                member "<step>\\n<id>\\n<content type>\\n<body>"
    celeriac:dead:{q}           dead-letter stream: the entry's fields + reason, stream, time
    celeriac:queues             set of queue names ever published to
    celeriac:result:{id}        hash of a task not yet ready (STARTED, RETRY, PROGRESS):
                                status, content-type, result, traceback, date_done, task,
                                worker, retries, queue, parent_id, root_id, group,
                                children (JSON) [, extras]; deleted when the task is ready
    celeriac:done:{id}          list holding the final record (msgpack map of the same
                                fields, empty ones left out) once the task is ready; the one
                                copy of a ready result. Waiters block on BLMOVE from it to
                                itself (no polling, no pub/sub). Both expire after result_expires
    celeriac:revoked            zset of revoked task ids (score: epoch ms when forgotten)
    celeriac:events             stream of events (trimmed to about events_maxlen)
    celeriac:worker:{name}      a live worker process's description, JSON (expires without
                                heartbeats); celeriac:workers is the set of their names
    celeriac:reply:{id}         list of the replies to one control request (expires)
    celeriac:metrics:collector  lease of the one process refreshing queue gauges (redis_observe.py)
    celeriac:chord:{group}      hash of a chord's joined header results: index -> "<content
                                type>\n<value>", plus "failed" -> JSON of the first failure
    celeriac:chord:{group}:fired  SET NX guard: the callback is published exactly once
    celeriac:chord:{group}:extra  INCR counter of members added by Task.add_to_chord: the
                                  join waits for size + extra results
    celeriac:group:{group}      a saved GroupResult (JSON); expires after result_expires
    celeriac:dedup:{id}         guard of a task published with an explicit id (SET NX EX
                                task_dedup_window; deleted when the task is ready)
    celeriac:once:{id}          enqueue-once marker (hash: state queued|finished, enqueued ms,
                                queue, task): expires result_expires (+ delay) after the
                                enqueue, 2 x result_expires after the result (redis_inspect.py)
    celeriac:running:{name}     what worker process {name} runs now, "<seq>\n<in flight>\n<id>..."
                                (written with its settlements; expires without heartbeats)
    celeriac:control:{db}       pub/sub channel of control commands (JSON, docs/protocol.md) of
                                database {db}: pub/sub ignores databases, the name does not
    celeriac:schedules*, celeriac:beat:*   the beat's registry and lease: redis_schedules.py

A message is acked by XACK + XDEL of its entry, so a stream's length is its backlog plus
what is in flight. Every state change of a finished task (ack, result, follow-up
messages, events) is written in one MULTI/EXEC round trip. Live workers refresh the idle
time of the entries they hold (XCLAIM ... JUSTID); entries of dead workers go idle and
are handed back by ``reclaim.lua``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgpack
import redis

from celeriac import states
from celeriac.backends import redis_connect, redis_scripts
from celeriac.backends import redis_replies as rr
from celeriac.backends.base import (
    PRIORITY_STEPS,
    ChordJoin,
    ChordState,
    DeadLetter,
    Delivery,
    Outgoing,
    QueueStats,
    ResultRecord,
    RunningSnapshot,
    Settlement,
    TaskTrace,
    WorkerInfo,
    priority_step,
)
from celeriac.backends.redis_inspect import RedisInspect, running_arg
from celeriac.backends.redis_observe import RedisObserve
from celeriac.backends.redis_schedules import RedisSchedules
from celeriac.config import Settings
from celeriac.errors import AuthenticationFailed, BrokerError, ConnectionLost, DecodeError

if TYPE_CHECKING:
    from redis.client import Pipeline
    from redis.commands.core import Script
    from redis.typing import EncodableT, FieldT, StreamIdT

    #: The fields of a stream entry, as redis-py types them.
    Fields = dict[FieldT, EncodableT]

logger = logging.getLogger(__name__)

GROUP = "celeriac"  #: the one consumer group of every stream
PREFIX = "celeriac"  #: every key starts with this
REVOKED_KEY = f"{PREFIX}:revoked"  #: zset of revoked ids
QUEUES_KEY = f"{PREFIX}:queues"  #: set of known queue names
EVENTS_KEY = f"{PREFIX}:events"  #: the events stream
RECLAIMER = "celeriac-reclaimer"  #: consumer name used while handing back stalled entries


def control_channel(db: int) -> str:
    """The pub/sub channel of control commands for database ``db``. Redis pub/sub ignores
    the database number, so the channel names it (and the key prefix): a command reaches
    only the workers of the same broker URL."""
    return f"{PREFIX}:control:{db}"
WAIT_CHUNK_S = 2.0  #: longest single blocking wait; must stay below redis-py's socket timeout (5 s)
PROMOTE_LIMIT = 1000  #: delayed messages moved per queue per fetch


def stream_key(queue: str, step: int = 0) -> str:
    return f"{PREFIX}:queue:{queue}" if step == 0 else f"{PREFIX}:queue:{queue}:p{step}"


def sent_key(task_id: str) -> str:
    return f"{PREFIX}:sent:{task_id}"


#: How long the marker of a producer's publish lives (``celeriac:sent:{id}``): longer than
#: ``PUBLISH_RETRY_WINDOW_S`` in app.py, the longest a producer keeps retrying one call.
PUBLISH_MARKER_MS = 30_000


def publish_token(m: Outgoing) -> bytes:
    """The same on every attempt of one publish call: a digest of the message body (a
    retry sends the very same bytes; another call with the same explicit id and the very
    same body within the marker's life is taken for a retry)."""
    return hashlib.blake2b(m.body, digest_size=8).digest()


def delayed_key(queue: str) -> str:
    return f"{PREFIX}:delayed:{queue}"


def dead_key(queue: str) -> str:
    return f"{PREFIX}:dead:{queue}"


def result_key(task_id: str) -> str:
    return f"{PREFIX}:result:{task_id}"


def done_key(task_id: str) -> str:
    return f"{PREFIX}:done:{task_id}"


def chord_key(group_id: str) -> str:
    return f"{PREFIX}:chord:{group_id}"


def group_key(group_id: str) -> str:
    return f"{PREFIX}:group:{group_id}"


#: How long a chord's joined results live when results never expire (result_expires 0).
CHORD_TTL_DEFAULT_S = 7 * 86400


def worker_key(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def fetch_keys(queues: Sequence[str]) -> list[str]:
    """KEYS for ``fetch.lua``: revoked, delayed per queue, then streams step-major."""
    keys = [REVOKED_KEY]
    keys.extend(delayed_key(q) for q in queues)
    keys.extend(stream_key(q, step) for step in PRIORITY_STEPS for q in queues)
    return keys


def _count(value: bytes | None, default: int) -> int:
    """A non-negative integer field as a stranger may have written it (``default`` if not one)."""
    return int(value) if value and value.isdigit() and len(value) <= 18 else default


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def record_to_mapping(record: ResultRecord) -> dict[str, bytes | str]:
    """The hash fields of a result (empty strings for missing values, so HSET overwrites)."""
    mapping: dict[str, bytes | str] = {
        "status": record.status,
        "content-type": record.content_type,
        "result": record.result if record.result is not None else b"",
        "traceback": record.traceback or "",
        "date_done": repr(record.date_done) if record.date_done is not None else "",
        "task": record.task or "",
        "worker": record.worker or "",
        "retries": str(record.retries),
        "queue": record.queue or "",
        "parent_id": record.parent_id or "",
        "root_id": record.root_id or "",
        "group": record.group or "",
    }
    if record.children:
        mapping["children"] = json.dumps(record.children)
    mapping.update(record.extra)
    return mapping


#: Field values a packed (ready) record leaves out: what ``mapping_to_record`` assumes.
_DEFAULTS: dict[str, bytes | str] = {"content-type": "application/json", "retries": "0"}


def pack_ready(task_id: str, mapping: dict[str, bytes | str]) -> bytes:
    """A ready result as stored in ``celeriac:done:{id}``: a msgpack map of the record's
    fields, empty and default values left out (the record is final, nothing to overwrite),
    and ``root_id`` too when the task is its own root (most are)."""
    kept = {k: v for k, v in mapping.items() if v != "" and _DEFAULTS.get(k) != v}
    if kept.get("root_id") == task_id:
        del kept["root_id"]
    packed: bytes = msgpack.packb(kept, use_bin_type=False)
    return packed


def unpack_ready(task_id: str, packed: bytes) -> ResultRecord | None:
    """The record of ``pack_ready`` (a missing ``root_id`` is the task itself).

    Raises :class:`DecodeError` when the stored element is not such a record."""
    try:
        raw = msgpack.unpackb(packed, raw=True)
    except Exception as exc:
        raise DecodeError(f"result record of {task_id} is not a msgpack map: {exc}") from None
    if not isinstance(raw, dict):
        raise DecodeError(f"result record of {task_id} is not a msgpack map, got {type(raw).__name__}")
    raw.setdefault(b"root_id", task_id.encode())
    return mapping_to_record(task_id, raw)


_CORE_FIELDS = frozenset({
    b"status", b"content-type", b"result", b"traceback", b"date_done", b"task", b"worker",
    b"retries", b"queue", b"parent_id", b"root_id", b"group", b"children",
})


def mapping_to_record(task_id: str, raw: dict[bytes, bytes]) -> ResultRecord | None:
    """A record from its stored fields. Raises :class:`DecodeError` naming a bad field."""
    if not raw:
        return None
    try:
        return _mapping_to_record(task_id, raw)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"result record of {task_id} is malformed: {type(exc).__name__}: {exc}") from None


def _field_bytes(task_id: str, raw: dict[Any, Any], name: bytes) -> bytes | None:
    value = raw.get(name)
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value).encode()
    raise DecodeError(f"result record of {task_id}: field {name.decode()!r} must be a string, "
                      f"got {type(value).__name__}")


def _mapping_to_record(task_id: str, raw: dict[Any, Any]) -> ResultRecord:
    def get(name: bytes) -> bytes | None:
        return _field_bytes(task_id, raw, name)

    def text(name: bytes) -> str | None:
        value = get(name)
        return value.decode(errors="replace") if value else None

    date_done = get(b"date_done")
    done_at: float | None = None
    if date_done:
        try:
            done_at = float(date_done)
        except ValueError:
            raise DecodeError(f"result record of {task_id}: field 'date_done' is not a number") from None
        if not math.isfinite(done_at):
            raise DecodeError(f"result record of {task_id}: field 'date_done' is not finite")
    retries_raw = get(b"retries") or b"0"
    if not retries_raw.isdigit() or len(retries_raw) > 10:
        raise DecodeError(f"result record of {task_id}: field 'retries' is not a non-negative integer")
    children_raw = get(b"children")
    children = None
    if children_raw:
        try:
            children = json.loads(children_raw)
        except ValueError:
            raise DecodeError(f"result record of {task_id}: field 'children' is not JSON") from None
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise DecodeError(f"result record of {task_id}: field 'children' must be an array of task ids")
    extra: dict[str, str] = {}
    for k in raw:
        if k in _CORE_FIELDS:
            continue
        if not isinstance(k, bytes):
            raise DecodeError(f"result record of {task_id}: a field name is not a string: {k!r}")
        value = _field_bytes(task_id, raw, k) or b""
        extra[k.decode(errors="replace")] = value.decode(errors="replace")
    return ResultRecord(
        task_id=task_id,
        status=(get(b"status") or b"PENDING").decode(errors="replace"),
        result=get(b"result") or None,
        content_type=(get(b"content-type") or b"application/json").decode(errors="replace"),
        traceback=text(b"traceback"),
        date_done=done_at,
        task=text(b"task"),
        worker=text(b"worker"),
        retries=int(retries_raw),
        queue=text(b"queue"),
        parent_id=text(b"parent_id"),
        root_id=text(b"root_id"),
        group=text(b"group"),
        children=children,
        extra=extra,
    )


def _record_of(task_id: str, done: bytes | None, live: dict[bytes, bytes]) -> ResultRecord | None:
    """A task's record from its done list's element (ready) or its hash (not ready)."""
    return unpack_ready(task_id, done) if done is not None else mapping_to_record(task_id, live)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn redis-py's errors into ours at the boundary."""
    try:
        yield
    except redis.AuthenticationError as exc:
        raise AuthenticationFailed(f"redis refused the credentials while {what}: {exc} (check the "
                                   "password/user in the broker URL)") from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConnectionLost(f"redis unreachable while {what}: {exc}") from exc
    except redis.RedisError as exc:
        text = str(exc)
        if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
            raise AuthenticationFailed(f"redis refused the credentials while {what}: {exc} (check the "
                                       "password/user in the broker URL)") from exc
        raise BrokerError(f"redis error while {what}: {exc}") from exc


class ReplicaWait:
    """Writes that count as done once ``replicas`` replicas have them (``broker_wait_replicas``).

    The writes and a ``WAIT`` go in one pipeline, so on one connection (``WAIT`` waits for
    that connection's writes) and in one round trip. Fewer replicas than asked within the
    timeout raises :class:`ConnectionLost`: callers retry it as a lost connection (the
    write may then be applied twice, which at-least-once delivery allows). A pipeline sent
    again to a new primary (redis-py reconnects through the sentinels) can meet a script
    cache without our scripts: NOSCRIPT reloads them and sends the pipeline once more."""

    def __init__(self, client: redis.Redis, replicas: int, timeout_ms: int) -> None:
        self.client = client
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    def __call__(self, queue: Callable[[Pipeline], object]) -> list[Any]:
        """The replies of the commands ``queue`` put on the pipeline (WAIT's left out)."""
        for attempt in (0, 1):
            pipe = self.client.pipeline(transaction=False)
            queue(pipe)
            pipe.wait(self.replicas, self.timeout_ms)
            try:
                replies = pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                continue
            acked = int(replies[-1])
            if acked < self.replicas:
                raise ConnectionLost(f"the write reached {acked} of the {self.replicas} replica(s) that "
                                     f"broker_wait_replicas asks for within broker_wait_timeout_ms "
                                     f"({self.timeout_ms} ms)")
            return list(replies[:-1])
        raise AssertionError("unreachable")


class RedisBackend:
    """Broker and result store on one Redis server (``redis://``, ``rediss://``, ``unix://``)
    or on the primary that Redis Sentinel names (``sentinel://``): redis_connect.py."""

    def __init__(self, url: str, settings: Settings, role: str = "broker") -> None:
        self.url = url
        self.settings = settings
        # Replies stay bytes (no decode_responses): redis_replies.py narrows redis-py's
        # "bytes | str" reply types to that, once per call site.
        self.client: redis.Redis = redis_connect.connect(url, settings, role)
        #: WAIT for replicas after each publish and settle, or None (broker_wait_replicas 0).
        self.replicated = (ReplicaWait(self.client, settings.broker_wait_replicas, settings.broker_wait_timeout_ms)
                           if settings.broker_wait_replicas > 0 else None)
        self._scripts = {
            name: self.client.register_script(redis_scripts.script(name))
            for name in ("fetch", "reclaim", "requeue", "settle", "publish")
        }
        self._control_channel = control_channel(int(self.client.connection_pool.connection_kwargs.get("db") or 0))
        self._known_queues: set[str] = set()
        self._revocations = True
        self._ensured: set[str] = set()
        self._result_ttl = settings.result_expires
        self._events_maxlen = settings.events_maxlen
        self._beat = RedisSchedules(self.client, _translated, self.replicated)
        self._observe = RedisObserve(self.client, _translated)
        self._inspect = RedisInspect(self.client, _translated, _record_of, self.replicated)

    # -- producing ---------------------------------------------------------------------------

    def publish(self, messages: Sequence[Outgoing]) -> None:
        self.publish_with_events(messages, ())

    def publish_with_events(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]]) -> None:
        """Publish and append events (``task-sent``) in one round trip: for one immediate
        message (the common ``delay()``) a plain XADD, pipelined with the events' XADDs if
        any (cheaper than the batch script); the batch script otherwise."""
        if not messages and not events:
            return
        if len(messages) == 1 and messages[0].eta is None and messages[0].queue in self._known_queues:
            m = messages[0]
            keys = [stream_key(m.queue, priority_step(m.priority)), sent_key(m.task_id)]
            args: list[bytes | str | int] = [m.task_id, m.content_type, m.body, publish_token(m), PUBLISH_MARKER_MS]
            with _translated("publishing"):
                if self.replicated is not None:
                    def queue(pipe: Pipeline) -> None:
                        self._scripts["publish"](keys=keys, args=args, client=pipe)
                        for event in events:
                            pipe.xadd(EVENTS_KEY, cast("Fields", event), maxlen=self._events_maxlen,
                                      approximate=True)
                    self.replicated(queue)
                    return
                if not events:
                    self._scripts["publish"](keys=keys, args=args)
                    return
                # EVALSHA straight into the pipeline: redis-py's Script in a pipeline would
                # add a SCRIPT EXISTS round trip to every call.
                script = self._scripts["publish"]
                pipe = self.client.pipeline(transaction=False)
                pipe.evalsha(script.sha, 2, *keys, *args)
                for event in events:
                    pipe.xadd(EVENTS_KEY, cast("Fields", event), maxlen=self._events_maxlen, approximate=True)
                replies = pipe.execute(raise_on_error=False)
                if isinstance(replies[0], redis.exceptions.NoScriptError):  # a restarted or flushed Redis
                    script(keys=keys, args=args)
                    replies = replies[1:]
                for reply in replies:
                    if isinstance(reply, Exception):
                        raise reply
            return
        batch = _Batch(self)
        for message in messages:
            batch.publish(message, token=True)
        for event in events:
            batch.event(event)
        with _translated("publishing"):
            batch.run(self._scripts["settle"])

    def publish_once(self, messages: Sequence[Outgoing], window_s: float) -> None:
        """Publish each message unless its task id was published (this way) within
        ``window_s`` seconds and has not reached a ready state since (one round trip)."""
        if not messages:
            return
        batch = _Batch(self)
        for message in messages:
            batch.publish(message, dedup_s=max(1, int(window_s)))
        with _translated("publishing"):
            batch.run(self._scripts["settle"])

    # -- consuming ---------------------------------------------------------------------------

    def ensure_queues(self, queues: Iterable[str]) -> None:
        todo = [q for q in queues if q not in self._ensured]
        if not todo:
            return
        with _translated("creating consumer groups"):
            for queue in todo:
                for step in PRIORITY_STEPS:
                    try:
                        self.client.xgroup_create(stream_key(queue, step), GROUP, id="0", mkstream=True)
                    except redis.ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise
                self.client.sadd(QUEUES_KEY, queue)
                self._ensured.add(queue)
                self._known_queues.add(queue)

    def _delivery(
        self, where: tuple[str, int], entry_id: bytes, fields: dict[bytes, bytes], revoked: bool
    ) -> Delivery:
        queue, step = where
        prior = fields.get(b"deliveries")
        invalid = fields.get(b"invalid")
        deliveries = 1
        if prior:
            if prior.isdigit() and len(prior) <= 9:
                deliveries = int(prior) + 1
            elif invalid is None:
                invalid = b"field 'deliveries' is not a non-negative integer"
        return Delivery(
            queue=queue,
            priority=step,
            message_id=entry_id.decode(),
            task_id=(fields.get(b"id") or b"").decode(errors="replace"),
            content_type=(fields.get(b"content-type") or b"application/json").decode(errors="replace"),
            body=fields.get(b"body") or b"",
            deliveries=deliveries,
            revoked=revoked,
            invalid=invalid.decode(errors="replace")[:500] if invalid is not None else None,
        )

    def fetch(self, queues: Sequence[str], consumer: str, count: int, timeout_s: float) -> list[Delivery]:
        try:
            return self._fetch(queues, consumer, count, timeout_s)
        except BrokerError as exc:
            if "NOGROUP" not in str(exc) and "no longer exists" not in str(exc):
                raise
            # The streams vanished under us (a Redis restarted without persistence, a
            # FLUSHALL): create the groups again and carry on.
            logger.warning("consumer groups missing (%s); recreating them", exc)
            self._ensured.clear()
            return self._fetch(queues, consumer, count, timeout_s)

    def _fetch(self, queues: Sequence[str], consumer: str, count: int, timeout_s: float) -> list[Delivery]:
        self.ensure_queues(queues)
        keys = fetch_keys(queues)
        streams = keys[1 + len(queues) :]
        where = [(q, step) for step in PRIORITY_STEPS for q in queues]
        now_ms = int(time.time() * 1000)
        with _translated("fetching"):
            reply = self._scripts["fetch"](
                keys=keys,
                args=[GROUP, consumer, count, now_ms, len(queues), len(PRIORITY_STEPS), PROMOTE_LIMIT,
                      *PRIORITY_STEPS],
            )
            next_due = int(reply[0])
            self._revocations = int(reply[1]) > 0
            out = [
                self._delivery(where[int(idx) - 1], entry_id, _pairs(flat), bool(revoked))
                for idx, entry_id, flat, revoked in reply[2:]
            ]
            if out or timeout_s <= 0:
                return out
            block_ms = int(timeout_s * 1000)
            if next_due >= 0:
                block_ms = max(1, min(block_ms, next_due - now_ms))
            res = rr.stream_read(self.client.xreadgroup(
                GROUP, consumer, dict.fromkeys(streams, ">"), count=count, block=block_ms
            ))
            if not res:
                return out
            by_stream = dict(zip(streams, where, strict=True))
            entries = [(by_stream[s.decode()], eid, fields) for s, items in res for eid, fields in items]
            # Revocations are checked in a second round trip only when some exist (as of
            # this consumer's last scripted fetch, at most FETCH_BLOCK_S ago).
            ids = [f.get(b"id") or b"" for _, _, f in entries]
            # (redis-py annotates members as str; bytes are what they are, and Redis takes them)
            scores = self.client.zmscore(REVOKED_KEY, cast("list[str]", ids)) if self._revocations else (
                [None] * len(ids))
            now_ms = int(time.time() * 1000)
            for (at, eid, fields), score in zip(entries, scores, strict=True):
                out.append(self._delivery(at, eid, fields, score is not None and score > now_ms))
            out.sort(key=lambda d: -d.priority)
            return out

    def settle(self, settlements: Sequence[Settlement], running: RunningSnapshot | None = None) -> None:
        if not settlements and running is None:
            return
        batch = _Batch(self)
        if running is not None:
            batch.running = running_arg(running)
        for s in settlements:
            d = s.delivery
            if d is not None:
                if s.dead_letter_reason is not None:
                    batch.dead.append((d.queue, d.priority, d.message_id, s.dead_letter_reason))
                else:
                    batch.ack(d)
            if s.result is not None:
                batch.result(s.result)
            for record in s.more_results:
                batch.result(record)
            if s.chord is not None:
                batch.chord(s.chord)
            for message in s.publish:
                batch.publish(message)
            for event in s.events:
                batch.event(event)
        with _translated("settling finished tasks"):
            acked = batch.run(self._scripts["settle"])
        if acked < batch.n_acks:
            logger.warning("%d acked message(s) were no longer held by this worker (reclaimed after "
                           "a lost lease): they may have run twice", batch.n_acks - acked)

    def requeue(self, deliveries: Sequence[Delivery], *, count_delivery: bool = False) -> None:
        by_stream: dict[str, list[str]] = defaultdict(list)
        for d in deliveries:
            by_stream[stream_key(d.queue, d.priority)].append(d.message_id)
        with _translated("requeueing"):
            for stream, ids in by_stream.items():
                self._requeue(stream, ids, count_delivery=count_delivery,
                              holder="handed back unfinished (still running when its worker stopped)")

    def _requeue(self, stream: str, ids: Sequence[StreamIdT], *, count_delivery: bool, holder: str) -> int:
        queue = stream[len(PREFIX) + len(":queue:"):]
        if queue[-3:-1] == ":p" and queue[-1].isdigit():
            queue = queue[:-3]
        return int(self._scripts["requeue"](
            keys=[stream, dead_key(queue)],
            args=[GROUP, "1" if count_delivery else "0", self.settings.task_max_deliveries, holder or "-",
                  int(time.time() * 1000), *ids]))

    def refresh_leases(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        by_stream: dict[str, list[StreamIdT]] = defaultdict(list)
        for d in deliveries:
            by_stream[stream_key(d.queue, d.priority)].append(d.message_id)
        if not by_stream:
            return
        with _translated("refreshing leases"):
            pipe = self.client.pipeline(transaction=False)
            for stream, ids in by_stream.items():
                pipe.xclaim(stream, GROUP, consumer, 0, ids, justid=True)
            pipe.execute()

    def release_consumer(self, queues: Sequence[str], consumer: str, *, count_delivery: bool,
                         cause: str = "crashed") -> int:
        """Requeue every message ``consumer`` holds (it exited) and drop the consumer; a
        counted hand-back records ``"<consumer> <cause>"`` in each message's history."""
        total = 0
        with _translated("releasing a consumer's messages"):
            for q in queues:
                for step in PRIORITY_STEPS:
                    stream = stream_key(q, step)
                    pending = self.client.xpending_range(stream, GROUP, min="-", max="+", count=10_000,
                                                         consumername=consumer)
                    ids = [p["message_id"] for p in pending]
                    if ids:
                        total += self._requeue(stream, ids, count_delivery=count_delivery,
                                               holder=f"{consumer} {cause}")
                    self.client.xgroup_delconsumer(stream, GROUP, consumer)
        return total

    def reclaim(self, queues: Sequence[str], idle_s: float, max_deliveries: int) -> int:
        self.ensure_queues(queues)
        streams = [stream_key(q, step) for q in queues for step in PRIORITY_STEPS]
        dlqs = [dead_key(q) for q in queues for _ in PRIORITY_STEPS]
        with _translated("reclaiming stalled messages"):
            requeued, dead = self._scripts["reclaim"](
                keys=[*streams, *dlqs],
                args=[GROUP, RECLAIMER, int(idle_s * 1000), max_deliveries, len(streams), 100,
                      int(time.time() * 1000)],
            )
        if requeued or dead:
            logger.warning("reclaimed %d stalled message(s), dead-lettered %d", requeued, dead)
        return int(requeued) + int(dead)

    def next_delayed_due(self, queues: Sequence[str]) -> float | None:
        with _translated("reading delayed messages"):
            pipe = self.client.pipeline(transaction=False)
            for q in queues:
                pipe.zrange(delayed_key(q), 0, 0, withscores=True)
            heads = pipe.execute()
        scores = [items[0][1] for items in heads if items]
        return min(scores) / 1000 if scores else None

    # -- results -----------------------------------------------------------------------------

    def store_result(self, record: ResultRecord) -> None:
        batch = _Batch(self)
        batch.result(record)
        with _translated("storing a result"):
            batch.run(self._scripts["settle"])

    def get_result(self, task_id: str) -> ResultRecord | None:
        return self.get_results([task_id])[0]

    def get_results(self, task_ids: Sequence[str]) -> list[ResultRecord | None]:
        """Each task's record: the packed final one if ready, else its hash (one round trip)."""
        with _translated("reading results"):
            pipe = self.client.pipeline(transaction=False)
            for task_id in task_ids:
                pipe.lindex(done_key(task_id), 0)
                pipe.hgetall(result_key(task_id))
            raws = pipe.execute()
        return [unpack_ready(t, done) if done is not None else mapping_to_record(t, live)
                for t, done, live in zip(task_ids, raws[0::2], raws[1::2], strict=True)]

    def wait_result(self, task_id: str, timeout_s: float | None) -> ResultRecord | None:
        key = done_key(task_id)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with _translated("waiting for a result"):
            while True:
                left = WAIT_CHUNK_S if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return self.get_result(task_id)
                # BLMOVE from the list to itself: wakes as soon as the record is pushed and
                # leaves it in place for every other waiter.
                # (redis-py annotates the timeout as int; Redis takes fractions of a second)
                timeout = cast(int, max(0.001, min(left, WAIT_CHUNK_S)))
                packed = rr.value(self.client.blmove(key, key, timeout, "RIGHT", "LEFT"))
                if packed is not None:
                    return unpack_ready(task_id, packed)

    def forget(self, task_id: str) -> None:
        with _translated("forgetting a result"):
            self.client.delete(result_key(task_id), done_key(task_id))

    # -- canvas ------------------------------------------------------------------------------

    def get_chord(self, group_id: str) -> ChordState:
        with _translated("reading a chord's results"):
            pipe = self.client.pipeline(transaction=False)
            pipe.hgetall(chord_key(group_id))
            pipe.get(chord_key(group_id) + ":extra")
            found, more = pipe.execute()
        raw = rr.mapping(found)
        extra = int(more) if more is not None and bytes(more).isdigit() else 0
        failure = raw.pop(b"failed", None)
        values: dict[int, bytes] = {}
        for k, v in raw.items():
            if not k.isdigit() or len(k) > 9:
                raise DecodeError(f"chord {group_id}: its results hash has a field that is not an index: "
                                  f"{k[:50]!r}")
            values[int(k)] = v
        return ChordState(values=values, failure=failure, extra=extra)

    def grow_chord(self, group_id: str) -> int:
        ttl = int(self._result_ttl or 0) or CHORD_TTL_DEFAULT_S
        key = chord_key(group_id) + ":extra"
        with _translated("adding a member to a chord"):
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, ttl)
            extra, _ = pipe.execute()
        return int(extra)

    def save_group(self, group_id: str, payload: bytes) -> None:
        with _translated("saving a group result"):
            self.client.set(group_key(group_id), payload, ex=int(self._result_ttl or 0) or None)

    def get_group(self, group_id: str) -> bytes | None:
        with _translated("reading a group result"):
            value = rr.value(self.client.get(group_key(group_id)))
        return bytes(value) if value is not None else None

    def forget_group(self, group_id: str) -> None:
        with _translated("forgetting a group result"):
            self.client.delete(group_key(group_id))

    # -- revocation, dead letters, stats -------------------------------------------------------

    def revoke(self, task_ids: Sequence[str], expires_s: float | None) -> None:
        until = (time.time() + (expires_s if expires_s is not None else 10 * 365 * 86400)) * 1000
        with _translated("revoking"):
            pipe = self.client.pipeline(transaction=True)
            pipe.zadd(REVOKED_KEY, dict.fromkeys(task_ids, until))
            pipe.zremrangebyscore(REVOKED_KEY, "-inf", int(time.time() * 1000))
            pipe.execute()

    def revoked(self, task_ids: Sequence[str]) -> list[bool]:
        if not task_ids:
            return []
        with _translated("checking revocations"):
            scores = self.client.zmscore(REVOKED_KEY, list(task_ids))
        now_ms = time.time() * 1000
        return [s is not None and s > now_ms for s in scores]

    def queue_stats(self, queue: str) -> QueueStats:
        return self.queue_stats_many([queue])[queue]

    # -- what operators and autoscalers read (implemented in redis_inspect.py) -----------------

    def queue_stats_many(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        """Depth figures of these queues from one script (no worker needed)."""
        return self._inspect.queue_stats(list(dict.fromkeys(queues)))

    def enqueue_once(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]],
                     keep_s: float | None) -> list[bool]:
        """Publish each message unless its task id was enqueued within the keep window
        (marker, or a result record); one script. ``events[i]`` goes with ``messages[i]``."""
        new = list(dict.fromkeys(m.queue for m in messages if m.queue not in self._known_queues))
        done = self._inspect.enqueue_once(messages, events, keep_s, self._events_maxlen, new)
        self._known_queues.update(new)
        return done

    def lookup(self, task_ids: Sequence[str]) -> list[TaskTrace]:
        return self._inspect.lookup(task_ids)

    def live_workers(self) -> list[WorkerInfo]:
        return self._inspect.live_workers()

    def known_queues(self) -> list[str]:
        with _translated("listing queues"):
            return sorted(m.decode() for m in rr.members(self.client.smembers(QUEUES_KEY)))

    def purge(self, queue: str) -> int:
        self.ensure_queues([queue])
        with _translated("purging"):
            stats = self.queue_stats(queue)
            pipe = self.client.pipeline(transaction=True)
            for step in PRIORITY_STEPS:
                key = stream_key(queue, step)
                # Keep entries in flight (their workers will ack them); drop the rest.
                pipe.xrange(key)
                pipe.xpending_range(key, GROUP, min="-", max="+", count=1_000_000)
            replies = pipe.execute()
            pipe = self.client.pipeline(transaction=True)
            for i, step in enumerate(PRIORITY_STEPS):
                entries, pending = replies[2 * i], replies[2 * i + 1]
                held = {p["message_id"] for p in pending}
                drop = [eid for eid, _ in entries if eid not in held]
                if drop:
                    pipe.xdel(stream_key(queue, step), *drop)
            pipe.delete(delayed_key(queue))
            pipe.execute()
        return stats.ready + stats.delayed + stats.due

    def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        queues = [queue] if queue else self.known_queues()
        out: list[DeadLetter] = []
        with _translated("reading dead letters"):
            for q in queues:
                for eid, f in rr.entries(self.client.xrange(dead_key(q), count=limit)):
                    out.append(
                        DeadLetter(
                            message_id=eid.decode(),
                            queue=q,
                            task_id=(f.get(b"id") or b"").decode(errors="replace"),
                            reason=(f.get(b"reason") or b"").decode(errors="replace"),
                            content_type=(f.get(b"content-type") or b"").decode(errors="replace"),
                            body=f.get(b"body") or b"",
                            deliveries=_count(f.get(b"deliveries"), 1),
                            time=_count(f.get(b"time"), 0) / 1000,
                            history=tuple((f.get(b"history") or b"").decode(errors="replace").splitlines()),
                        )
                    )
        return out[:limit]

    def dead_letter_requeue(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Put dead letters back on their stream (all of ``queue``'s, or these entry ids)
        with a fresh delivery count; returns how many."""
        self.ensure_queues([queue])
        wanted = set(message_ids) if message_ids is not None else None
        n = 0
        with _translated("requeueing dead letters"):
            for eid, f in rr.entries(self.client.xrange(dead_key(queue))):
                if wanted is not None and eid.decode() not in wanted:
                    continue
                stream = (f.get(b"stream") or stream_key(queue).encode()).decode()
                fields: Fields = {k: f[k] for k in (b"id", b"content-type", b"body") if k in f}
                if b"history" in f:
                    fields[b"history"] = f[b"history"]
                pipe = self.client.pipeline(transaction=True)
                pipe.xadd(stream, fields)
                pipe.xdel(dead_key(queue), eid)
                pipe.execute()
                n += 1
        return n

    def dead_letter_purge(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Drop dead letters (all of ``queue``'s, or these entry ids); returns how many."""
        with _translated("purging dead letters"):
            if message_ids is None:
                n = int(self.client.xlen(dead_key(queue)))
                self.client.delete(dead_key(queue))
                return n
            return int(self.client.xdel(dead_key(queue), *message_ids)) if message_ids else 0

    # -- control channel ---------------------------------------------------------------------

    def control_publish(self, message: dict[str, Any]) -> int:
        """Broadcast a control command (JSON) to every listening worker; returns listeners."""
        with _translated("publishing a control message"):
            return int(self.client.publish(self._control_channel, json.dumps(message)))

    def control_subscribe(self) -> ControlSubscription:
        """A subscription to the control channel (its own connection; close it)."""
        with _translated("subscribing to the control channel"):
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._control_channel)
            except BaseException:
                pubsub.close()
                raise
        return ControlSubscription(pubsub)

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        if not events:
            return
        batch = _Batch(self, group_events=False)  # rare events (beat, workers): one entry each
        for event in events:
            batch.event(event)
        with _translated("emitting events"):
            batch.run(self._scripts["settle"])

    # -- observability (implemented in redis_observe.py) --------------------------------------

    def read_events(self, after_id: str = "0", count: int = 1000,
                    block_s: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """Events newer than ``after_id`` ("0": the oldest kept, "$": from now on), oldest
        first, as ``(id, fields)``; waits up to ``block_s`` for one when none is there."""
        return self._observe.read_events(str(after_id), count, block_s)

    def last_event_id(self) -> str:
        """The id of the newest event ("0-0" when none): start a tail from here."""
        return self._observe.last_event_id()

    def recent_events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """About the ``count`` newest events, oldest first (one XREVRANGE)."""
        return self._observe.recent_events(count)

    def worker_register(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        """Record a live worker process (``celeriac:worker:{name}``), expiring after ``ttl_s``."""
        self._observe.worker_register(name, info, ttl_s)

    def worker_unregister(self, name: str) -> None:
        self._observe.worker_unregister(name)

    def workers(self) -> list[dict[str, Any]]:
        """The descriptions of every registered, unexpired worker process."""
        return self._observe.workers()

    def control_reply(self, request_id: str, reply: dict[str, Any]) -> None:
        """Answer control request ``request_id`` (read by :meth:`control_replies`)."""
        self._observe.control_reply(request_id, reply)

    def control_replies(self, request_id: str, expected: int | None, timeout_s: float) -> list[dict[str, Any]]:
        """Replies to a request: until ``expected`` came or ``timeout_s`` passed."""
        return self._observe.control_replies(request_id, expected, timeout_s)

    def collector_lease(self, holder: str, ttl_s: float) -> bool:
        """Take or keep the queue-gauge collector lease; True while ``holder`` has it."""
        return self._observe.collector_lease(holder, ttl_s)

    # -- beat (implemented in redis_schedules.py) ---------------------------------------------

    def schedule_put(self, name: str, spec: str) -> None:
        self._beat.put(name, spec)

    def schedule_delete(self, name: str) -> bool:
        return self._beat.delete(name)

    def schedule_read(self, names: Sequence[str] | None = None) -> dict[str, tuple[str, str | None]]:
        return self._beat.read(names)

    def schedule_wait(self, cursor: str, timeout_s: float) -> str:
        return self._beat.wait(cursor, timeout_s)

    def schedule_commit(self, name: str, *, fence: tuple[str, int] | None, expect_state: str | None,
                        new_state: str, publish: Sequence[Outgoing] = (), require_enabled: bool = True) -> int:
        return self._beat.commit(name, fence=fence, expect_state=expect_state, new_state=new_state,
                                 publish=publish, require_enabled=require_enabled)

    def beat_acquire(self, holder: str, ttl_s: float) -> int | None:
        return self._beat.acquire(holder, ttl_s)

    def beat_renew(self, holder: str, token: int, ttl_s: float) -> bool:
        return self._beat.renew(holder, token, ttl_s)

    def beat_release(self, holder: str, token: int) -> None:
        self._beat.release(holder, token)

    def close(self) -> None:
        self.client.close()


class ControlSubscription:
    """Control commands as dicts, from a Redis pub/sub subscription."""

    def __init__(self, pubsub: redis.client.PubSub) -> None:
        self.pubsub = pubsub

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        """The next command, or None after ``timeout_s`` (raises ConnectionLost if cut off)."""
        with _translated("reading the control channel"):
            message = self.pubsub.get_message(timeout=timeout_s)
        if message is None or message.get("type") != "message":
            return None
        try:
            value = json.loads(message["data"])
        except ValueError:
            logger.warning("ignoring a control message that is not JSON: %.200r", message["data"])
            return None
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        self.pubsub.close()


_STR_ONLY = frozenset({str})


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


class _Batch:
    """The argument of ``settle.lua``: everything to write, packed as one msgpack blob."""

    def __init__(self, backend: RedisBackend, *, group_events: bool = True) -> None:
        self.backend = backend
        self.group_events = group_events
        self.publishes: list[tuple[Any, ...]] = []
        self.results: list[tuple[str, int, list[bytes | str] | bytes]] = []
        self.dead: list[tuple[str, int, str, str]] = []
        self.acks: dict[tuple[str, int], list[str]] = {}
        self.events: list[list[str] | dict[str, str]] = []
        self.queues: list[str] = []
        self.chords: list[tuple[Any, ...]] = []
        self.running: tuple[str, int, str, int] | None = None
        self.n_acks = 0
        self.sent_ttl = False

    def publish(self, m: Outgoing, dedup_s: int = 0, *, token: bool = False) -> None:
        eta_ms = int(m.eta * 1000) if m.eta is not None else 0
        if token:
            # A producer's call: guarded against its own retries (publish.lua explains).
            self.publishes.append((m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body, eta_ms,
                                   dedup_s, publish_token(m)))
            self.sent_ttl = True
        elif dedup_s:  # the dedup guard set by the first attempt already stops a retry
            self.publishes.append((m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body, eta_ms,
                                   dedup_s))
        else:
            self.publishes.append((m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body, eta_ms))
        if m.queue not in self.backend._known_queues:
            self.queues.append(m.queue)
            self.backend._known_queues.add(m.queue)

    def result(self, record: ResultRecord) -> None:
        mapping = record_to_mapping(record)
        if record.status in states.READY_STATES:
            # The final record: one packed map in the done list (the hash is dropped).
            self.results.append((record.task_id, 1, pack_ready(record.task_id, mapping)))
            return
        flat: list[bytes | str] = []
        for k, v in mapping.items():
            flat.append(k)
            flat.append(v)
        self.results.append((record.task_id, 0, flat))

    def chord(self, join: ChordJoin) -> None:
        callbacks = []
        for m in join.callback:
            callbacks.append((m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body,
                              int(m.eta * 1000) if m.eta is not None else 0))
            if m.queue not in self.backend._known_queues:
                self.queues.append(m.queue)
                self.backend._known_queues.add(m.queue)
        ttl = int(self.backend._result_ttl or 0) or CHORD_TTL_DEFAULT_S
        self.chords.append((join.group_id, join.index, join.size, join.result, 1 if join.failed else 0, ttl,
                            callbacks))

    def ack(self, d: Delivery) -> None:
        self.acks.setdefault((d.queue, d.priority), []).append(d.message_id)
        self.n_acks += 1

    def event(self, event: dict[str, Any]) -> None:
        if _STR_ONLY.issuperset(map(type, event.values())):  # the executor's events
            if self.group_events:
                self.events.append(event)  # packed as a map into the batch entry, no flattening
            else:
                self.events.append(list(itertools.chain.from_iterable(event.items())))  # flattened in C
            return
        flat: list[str] = []
        for k, v in event.items():
            flat.append(k)
            flat.append(v if isinstance(v, str) else json.dumps(v))
        self.events.append(flat)

    def run(self, script: Script) -> int:
        payload: dict[str, Any] = {}
        if self.publishes:
            payload["publish"] = self.publishes
            if self.sent_ttl:
                payload["sent_ttl"] = PUBLISH_MARKER_MS
        if self.queues:
            payload["queues"] = self.queues
        if self.results:
            payload["results"] = self.results
        if self.dead:
            payload["dead"] = self.dead
        if self.acks:
            payload["acks"] = [(q, step, ids) for (q, step), ids in self.acks.items()]
        if len(self.events) > 1 and self.group_events:
            # One stream entry for the batch: an XADD per task event was the largest
            # share of what events cost (see docs/protocol.md, Events).
            payload["event_batch"] = msgpack.packb(self.events, use_bin_type=False)
            payload["event_count"] = len(self.events)
        elif self.events:
            payload["events"] = [list(itertools.chain.from_iterable(e.items())) if isinstance(e, dict) else e
                                 for e in self.events]
        if self.chords:
            payload["chords"] = self.chords
        if self.running is not None:
            payload["running"] = self.running
        b = self.backend
        args = [PREFIX, GROUP, int(b._result_ttl or 0), b._events_maxlen, int(time.time() * 1000),
                msgpack.packb(payload, use_bin_type=False)]
        if b.replicated is not None:
            return int(b.replicated(lambda pipe: script(keys=[], args=args, client=pipe))[0])
        return int(script(keys=[], args=args))
