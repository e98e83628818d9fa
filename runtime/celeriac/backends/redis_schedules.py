"""The beat's part of the Redis transport: schedule registry, leader lease, fenced fire.

Why it exists: ``redis.py`` holds the task broker; the beat's keys and scripts are a
separate concern and live here, behind the same ``Backend`` methods (``RedisBackend``
delegates to ``RedisSchedules``). What it must not do: import ``redis`` (it gets the
client and the error translator from ``redis.py``, still the only module importing it) or
know what a schedule means (specs and states are opaque JSON text here; their format is
``celeriac.beat.records`` and ``docs/protocol.md``).

Key space::

    celeriac:schedules          hash: entry name -> spec JSON (what to run, when)
    celeriac:schedules:state    hash: entry name -> state JSON (written by the leader beat)
    celeriac:schedules:changed  stream of change notices (field ``name``, ``op``), trimmed to
                                about 1000; a beat blocks on it to wake at once on a change
    celeriac:beat:lease         string "<token> <holder>" with a TTL: the leader lease
    celeriac:beat:token         counter: the fencing token of the latest leadership
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import msgpack

from celeriac.backends import redis_replies as rr
from celeriac.backends import redis_scripts
from celeriac.backends.base import Outgoing, priority_step

if TYPE_CHECKING:
    from redis import Redis

SPECS_KEY = "celeriac:schedules"  #: hash name -> spec JSON
STATES_KEY = "celeriac:schedules:state"  #: hash name -> state JSON
CHANGES_KEY = "celeriac:schedules:changed"  #: stream of change notices
LEASE_KEY = "celeriac:beat:lease"  #: the leader lease ("<token> <holder>")
TOKEN_KEY = "celeriac:beat:token"  #: fencing token counter (INCR)
CHANGES_MAXLEN = 1000  #: approximate length the change stream is trimmed to


def lease_value(holder: str, token: int) -> str:
    """The lease string a holder with ``token`` owns (compared by the fenced scripts)."""
    return f"{token} {holder}"


class RedisSchedules:
    """Registry, lease and fenced commit on one Redis client (used by ``RedisBackend``)."""

    def __init__(self, client: Redis, translated: Callable[[str], AbstractContextManager[None]],
                 replicated: Callable[[Callable[[Any], object]], list[Any]] | None = None) -> None:
        self.client = client
        self._translated = translated
        #: the backend's ReplicaWait (broker_wait_replicas), which a commit goes through
        self._replicated = replicated
        self._scripts = {
            name: client.register_script(redis_scripts.script(name))
            for name in ("beat_acquire", "beat_renew", "beat_commit")
        }

    # -- registry ------------------------------------------------------------------------------

    def put(self, name: str, spec: str) -> None:
        with self._translated("writing a schedule"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(SPECS_KEY, name, spec)
            pipe.xadd(CHANGES_KEY, {"name": name, "op": "put"}, maxlen=CHANGES_MAXLEN, approximate=True)
            pipe.execute()

    def delete(self, name: str) -> bool:
        with self._translated("removing a schedule"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(SPECS_KEY, name)
            pipe.hdel(STATES_KEY, name)
            pipe.xadd(CHANGES_KEY, {"name": name, "op": "delete"}, maxlen=CHANGES_MAXLEN, approximate=True)
            removed, _, _ = pipe.execute()
        return bool(removed)

    def read(self, names: Sequence[str] | None) -> dict[str, tuple[str, str | None]]:
        with self._translated("reading schedules"):
            pipe = self.client.pipeline(transaction=True)
            if names is None:
                pipe.hgetall(SPECS_KEY)
                pipe.hgetall(STATES_KEY)
                specs, states = pipe.execute()
                found = {k.decode(): v for k, v in specs.items()}
                state_of = {k.decode(): v for k, v in states.items()}
            else:
                if not names:
                    return {}
                pipe.hmget(SPECS_KEY, list(names))
                pipe.hmget(STATES_KEY, list(names))
                specs, states = pipe.execute()
                found = {n: s for n, s in zip(names, specs, strict=True) if s is not None}
                state_of = {n: s for n, s in zip(names, states, strict=True) if s is not None}
        return {
            name: (spec.decode(), state_of[name].decode() if name in state_of else None)
            for name, spec in sorted(found.items())
        }

    def wait(self, cursor: str, timeout_s: float) -> str:
        with self._translated("waiting for schedule changes"):
            if not cursor:
                last = rr.entries(self.client.xrevrange(CHANGES_KEY, count=1))
                cursor = last[0][0].decode() if last else "0-0"
            reply = rr.stream_read(self.client.xread({CHANGES_KEY: cursor}, count=100,
                                                     block=max(1, int(timeout_s * 1000))))
        for _stream, entries in reply:
            if entries:
                cursor = entries[-1][0].decode()
        return cursor

    # -- lease ---------------------------------------------------------------------------------

    def acquire(self, holder: str, ttl_s: float) -> int | None:
        with self._translated("taking the beat lease"):
            token, _value = self._scripts["beat_acquire"](
                keys=[LEASE_KEY, TOKEN_KEY], args=[holder, max(1, int(ttl_s * 1000))]
            )
        return int(token) or None

    def renew(self, holder: str, token: int, ttl_s: float) -> bool:
        with self._translated("renewing the beat lease"):
            ok = self._scripts["beat_renew"](
                keys=[LEASE_KEY], args=[lease_value(holder, token), max(1, int(ttl_s * 1000))]
            )
        return bool(ok)

    def release(self, holder: str, token: int) -> None:
        with self._translated("releasing the beat lease"):
            self._scripts["beat_renew"](keys=[LEASE_KEY], args=[lease_value(holder, token), 0])

    # -- fenced commit -------------------------------------------------------------------------

    def commit(
        self,
        name: str,
        *,
        fence: tuple[str, int] | None,
        expect_state: str | None,
        new_state: str,
        publish: Sequence[Outgoing],
        require_enabled: bool,
    ) -> int:
        messages = [
            (m.queue, priority_step(m.priority), m.task_id, m.content_type, m.body,
             int(m.eta * 1000) if m.eta is not None else 0)
            for m in publish
        ]
        keys = [LEASE_KEY, SPECS_KEY, STATES_KEY]
        args = [
            "celeriac",
            lease_value(*fence) if fence is not None else "",
            name,
            expect_state or "",
            new_state,
            "1" if require_enabled else "0",
            int(time.time() * 1000),
            msgpack.packb(messages, use_bin_type=False),
        ]
        script = self._scripts["beat_commit"]
        with self._translated("firing a schedule"):
            if self._replicated is not None:
                return int(self._replicated(lambda pipe: script(keys=keys, args=args, client=pipe))[0])
            return int(script(keys=keys, args=args))
