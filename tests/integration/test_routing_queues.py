"""Routing as a Celery user configures it, through a real broker."""

from __future__ import annotations

import types
from typing import Any

import redis


def test_celery_queues_and_routes_send_add_to_its_queue(make_app: Any, worker: Any, redis_url: str) -> None:
    config = types.SimpleNamespace(
        CELERY_QUEUES={"add": {"routing_key": "add"}},
        CELERY_ROUTES={"tasks.add": {"queue": "add", "routing_key": "add"}},
    )
    app = make_app("tasks", config_source=config)

    @app.task(name="tasks.add")
    def add(x: int, y: int) -> int:
        return x + y

    client = redis.Redis.from_url(redis_url)
    r = add.delay(2, 3)
    assert client.xlen("celeriac:queue:add") == 1
    assert client.xlen("celeriac:queue:default") == 0
    w = worker(app)  # no -Q: the configured queues and the default
    assert w.consumer.queues == ["add", "default"]
    assert r.get(timeout=10) == 5
    client.close()


def test_worker_with_q_only_consumes_those(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(queue="other")
    def ping() -> str:
        return "pong"

    w = worker(app, queues=["default"])
    r = ping.delay()
    import time

    time.sleep(0.5)
    assert r.state == "PENDING"
    w.stop()
    worker(app, queues=["other"])
    assert r.get(timeout=10) == "pong"
