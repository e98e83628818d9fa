"""Completion bookkeeping for benchmark tasks, shared by every system's task module.

Why it exists: throughput must be timed from the first task's start to the last task's
end, excluding worker start-up, and completion must be detected without log lines or a
Redis round trip per task (that round trip would cost fast systems a large share of their
budget). So each task calls :func:`record` with its start time; the process keeps a
count, its earliest start and latest end in memory, and a daemon thread writes that
triple to one hash field per process every ``FLUSH_INTERVAL_S``. The harness reads the
hash with :func:`read` and sums it.

Workers that fork a fresh process per task (RQ's default worker) would lose the in-memory
state, so with ``BENCH_PROGRESS_SYNC=1`` each call writes through at once (one Lua call).

This module must stay importable by every worker (plain ``redis`` + stdlib, no queue
library) and must never raise into a task.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

import redis

#: The hash holding one field per worker process: ``"count first_start last_end"``.
PROGRESS_KEY = "bench:progress"
#: Field prefix for write-through (per-task) records.
SYNC_FIELD = "sync"
#: How often each process publishes its counters.
FLUSH_INTERVAL_S = 0.01
#: Environment variable with the Redis URL every benchmark process uses.
URL_ENV = "BENCH_REDIS_URL"
#: Environment variable that switches to write-through mode.
SYNC_ENV = "BENCH_PROGRESS_SYNC"

_SYNC_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[3])
local n, first, last = 0, tonumber(ARGV[1]), tonumber(ARGV[2])
if cur then
  local a, b, c = string.match(cur, '(%S+) (%S+) (%S+)')
  n = tonumber(a)
  if tonumber(b) < first then first = tonumber(b) end
  if tonumber(c) > last then last = tonumber(c) end
end
redis.call('HSET', KEYS[1], ARGV[3], string.format('%d %.6f %.6f', n + 1, first, last))
return n + 1
"""


@dataclass(frozen=True)
class Progress:
    """What the workers have finished so far (epoch seconds)."""

    count: int
    first_start: float
    last_end: float

    @property
    def elapsed_s(self) -> float:
        return max(self.last_end - self.first_start, 1e-9)


class _State:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.token = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock = threading.Lock()
        self.count = 0
        self.first = float("inf")
        self.last = 0.0


_state: _State | None = None
_sync_client: redis.Redis | None = None
_sync_client_pid = 0


def _client() -> redis.Redis:
    return redis.Redis.from_url(os.environ[URL_ENV], socket_timeout=5)


def _flush_forever(state: _State) -> None:
    """Publish ``state`` whenever it changed; ends with the process (daemon thread)."""
    client = _client()
    written: tuple[int, float, float] | None = None
    while True:
        time.sleep(FLUSH_INTERVAL_S)
        with state.lock:
            snap = (state.count, state.first, state.last)
        if snap == written:
            continue
        try:
            client.hset(PROGRESS_KEY, state.token, f"{snap[0]} {snap[1]:.6f} {snap[2]:.6f}")
            written = snap
        except redis.RedisError:
            time.sleep(0.1)


def _local_state() -> _State:
    global _state
    state = _state
    if state is not None and state.pid == os.getpid():
        return state
    state = _State()  # first task in this process (or first after a fork)
    _state = state
    threading.Thread(target=_flush_forever, args=(state,), name="benchprogress", daemon=True).start()
    return state


def _record_sync(started: float, ended: float) -> None:
    global _sync_client, _sync_client_pid
    if _sync_client is None or _sync_client_pid != os.getpid():
        _sync_client, _sync_client_pid = _client(), os.getpid()
    _sync_client.eval(_SYNC_LUA, 1, PROGRESS_KEY, f"{started:.6f}", f"{ended:.6f}", SYNC_FIELD)


def record(started: float) -> None:
    """Count one finished task that started at ``started`` (``time.time()``)."""
    ended = time.time()
    try:
        if os.environ.get(SYNC_ENV) == "1":
            _record_sync(started, ended)
            return
        state = _local_state()
        with state.lock:
            state.count += 1
            if started < state.first:
                state.first = started
            if ended > state.last:
                state.last = ended
    except Exception:
        return


def read(client: redis.Redis) -> Progress:
    """Sum every process's record (the harness side)."""
    count, first, last = 0, float("inf"), 0.0
    for raw in client.hvals(PROGRESS_KEY):
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        parts = text.split()
        if len(parts) != 3 or int(parts[0]) == 0:
            continue
        count += int(parts[0])
        first = min(first, float(parts[1]))
        last = max(last, float(parts[2]))
    return Progress(count=count, first_start=first if count else 0.0, last_end=last)


def wait_for(client: redis.Redis, n: int, timeout_s: float, poll_s: float = 0.02) -> Progress:
    """Poll until ``n`` tasks are recorded or ``timeout_s`` passes; return what was seen."""
    deadline = time.monotonic() + timeout_s
    progress = read(client)
    while progress.count < n and time.monotonic() < deadline:
        time.sleep(poll_s)
        progress = read(client)
    return progress
