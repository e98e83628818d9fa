"""Observability on Redis: reading the events stream, the worker registry, control replies
and the metrics collector lease.

It exists so that ``redis.py`` stays about moving messages; it receives the client and the
error translator from :class:`~celeriac.backends.redis.RedisBackend` and never imports
``redis`` itself. What it must not do: interpret events or control commands (the
``celeriac.events`` and ``celeriac.control`` modules do).

Keys (documented with the rest at the top of ``redis.py``)::

    celeriac:events             stream of events (written by settle.lua)
    celeriac:worker:{name}      JSON description of a live worker process (EX: a few heartbeats)
    celeriac:workers            set of registered worker process names (pruned when read)
    celeriac:reply:{id}         list of replies to one control request (expires after a minute)
    celeriac:metrics:collector  lease: the one process that refreshes the queue gauges
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import msgpack

from celeriac.backends import redis_replies as rr

if TYPE_CHECKING:
    from redis import Redis

PREFIX = "celeriac"  #: same prefix as redis.py
EVENTS_KEY = f"{PREFIX}:events"  #: the events stream
WORKERS_KEY = f"{PREFIX}:workers"  #: set of registered worker process names
COLLECTOR_KEY = f"{PREFIX}:metrics:collector"  #: lease of the queue-gauge collector
REPLY_TTL_S = 60  #: how long unread control replies stay


def worker_key(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def reply_key(request_id: str) -> str:
    return f"{PREFIX}:reply:{request_id}"


def decode_fields(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """An events-stream entry as a dict of strings (``celeriac.events.normalize`` types it)."""
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}


def expand_entry(fields: dict[bytes, bytes]) -> list[dict[str, Any]]:
    """The events of one stream entry: itself, or the events of a ``batch`` entry (a
    settlement batch writes its task events as one entry: a msgpack list whose items are
    maps of strings or flat ``[field, value, ...]`` lists)."""
    if fields.get(b"type") != b"batch" or b"events" not in fields:
        return [decode_fields(fields)]
    out: list[dict[str, Any]] = []
    for item in msgpack.unpackb(fields[b"events"], raw=True):
        if isinstance(item, dict):  # an event of string values, packed as a map
            out.append({k.decode(errors="replace"): v.decode(errors="replace") for k, v in item.items()})
        else:  # a flat [field, value, ...] list
            out.append({item[i].decode(errors="replace"): item[i + 1].decode(errors="replace")
                        for i in range(0, len(item) - 1, 2)})
    return out


class RedisObserve:
    """Events reading, worker registry, control replies, collector lease (see module doc)."""

    def __init__(self, client: Redis, translated: Callable[[str], AbstractContextManager[None]]) -> None:
        self.client = client
        self._translated = translated

    # -- events ----------------------------------------------------------------------------

    def read_events(self, after_id: str, count: int, block_s: float) -> list[tuple[str, dict[str, Any]]]:
        with self._translated("reading events"):
            if not block_s:
                start = "-" if after_id in ("0", "0-0", "") else f"({after_id}"
                if after_id == "$":
                    return []
                items = rr.entries(self.client.xrange(EVENTS_KEY, min=start, count=count))
                return [(eid.decode(), e) for eid, f in items for e in expand_entry(f)]
            res = rr.stream_read(self.client.xread({EVENTS_KEY: after_id or "0"}, count=count,
                                                   block=max(1, int(block_s * 1000))))
        out: list[tuple[str, dict[str, Any]]] = []
        for _stream, read in res:
            out.extend((eid.decode(), e) for eid, f in read for e in expand_entry(f))
        return out

    def recent_events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        with self._translated("reading events"):
            items = rr.entries(self.client.xrevrange(EVENTS_KEY, count=count))
        return [(eid.decode(), e) for eid, f in reversed(items) for e in expand_entry(f)]

    def last_event_id(self) -> str:
        with self._translated("reading events"):
            items = rr.entries(self.client.xrevrange(EVENTS_KEY, count=1))
        return items[0][0].decode() if items else "0-0"

    # -- worker registry -------------------------------------------------------------------

    def worker_register(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        with self._translated("registering a worker"):
            pipe = self.client.pipeline(transaction=False)
            pipe.set(worker_key(name), json.dumps(info), px=max(1, int(ttl_s * 1000)))
            pipe.sadd(WORKERS_KEY, name)
            pipe.execute()

    def worker_unregister(self, name: str) -> None:
        with self._translated("unregistering a worker"):
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(worker_key(name), f"{PREFIX}:running:{name}")
            pipe.srem(WORKERS_KEY, name)
            pipe.execute()

    def workers(self) -> list[dict[str, Any]]:
        with self._translated("listing workers"):
            names = sorted(n.decode() for n in rr.members(self.client.smembers(WORKERS_KEY)))
            if not names:
                return []
            values = rr.values(self.client.mget([worker_key(n) for n in names]))
            gone = [n for n, v in zip(names, values, strict=True) if v is None]
            if gone:
                self.client.srem(WORKERS_KEY, *gone)
        return [json.loads(v) for v in values if v is not None]

    # -- control replies -------------------------------------------------------------------

    def control_reply(self, request_id: str, reply: dict[str, Any]) -> None:
        with self._translated("replying to a control request"):
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(reply_key(request_id), json.dumps(reply, default=str))
            pipe.expire(reply_key(request_id), REPLY_TTL_S)
            pipe.execute()

    def control_replies(self, request_id: str, expected: int | None, timeout_s: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        key = reply_key(request_id)
        deadline = time.monotonic() + timeout_s
        with self._translated("reading control replies"):
            while expected is None or len(out) < expected:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                item = self.client.blpop([key], timeout=max(0.01, left))
                if item is None:
                    break
                out.append(json.loads(item[1]))
            self.client.delete(key)
        return out

    # -- metrics collector lease -----------------------------------------------------------

    def collector_lease(self, holder: str, ttl_s: float) -> bool:
        ttl_ms = max(1, int(ttl_s * 1000))
        with self._translated("taking the collector lease"):
            if self.client.set(COLLECTOR_KEY, holder, nx=True, px=ttl_ms):
                return True
            current = rr.value(self.client.get(COLLECTOR_KEY))
            if current is not None and current.decode() == holder:
                self.client.pexpire(COLLECTOR_KEY, ttl_ms)
                return True
        return False
