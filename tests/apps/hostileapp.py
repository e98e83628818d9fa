"""Tasks for the hostile-input tests (tests/integration/test_hostile_input.py, the fuzz test).

Each task counts its executions in Redis (``hostile:ran:<tag>``, INCR), so a test sees
exactly how many times a body ran, whichever pool or process ran it. The broker comes from
``app.conf.broker_url`` (set by the tests) or ``CELERIAC_BROKER_URL`` (worker subprocesses).
"""

from __future__ import annotations

import os
from typing import Any

import redis

from celeriac import Celeriac, group

app = Celeriac("hostileapp")
_client: dict[str, redis.Redis] = {}


def ran(tag: Any) -> None:
    url = app.conf.broker_url or os.environ["CELERIAC_BROKER_URL"]
    client = _client.get(url)
    if client is None:
        client = _client[url] = redis.Redis.from_url(url)
    client.incr(f"hostile:ran:{tag}")


def runs(client: redis.Redis, tag: str) -> int:
    return int(client.get(f"hostile:ran:{tag}") or 0)


@app.task
def sink(tag: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Accepts anything: counts a run under its first argument."""
    ran(tag)
    return tag


@app.task
async def async_sink(tag: Any = None, *args: Any, **kwargs: Any) -> Any:
    ran(tag)
    return tag


@app.task
def unencodable(tag: str) -> Any:
    """Returns what JSON cannot carry: a generator inside a group's arguments (a canvas
    itself is serialized, as Celery does, but not what it holds)."""
    ran(tag)
    return group(sink.s(i for i in range(3)))


@app.task
def unencodable_object(tag: str) -> Any:
    ran(tag)
    return object()


@app.task(bind=True, max_retries=3)
def retry_unencodable(self: Any, tag: str) -> None:
    """Retries with arguments that cannot be serialized."""
    ran(tag)
    raise self.retry(args=[tag, object()], countdown=0)


@app.task(bind=True)
def fails_with_bad_errback(self: Any, tag: str) -> None:
    ran(tag)
    raise ValueError("boom")
