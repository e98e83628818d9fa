"""The Redis transport recovers from streams vanishing under a running worker."""

from __future__ import annotations

from typing import Any

import redis


def test_worker_recreates_groups_after_flushall(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    assert add.delay(1, 2).get(timeout=10) == 3
    client = redis.Redis.from_url(redis_url)
    client.flushall()  # what a restart without persistence looks like to the worker
    client.close()
    app.broker._known_queues.clear()  # the producer's cache of known queues is stale too
    assert add.delay(2, 2).get(timeout=15) == 4
