"""Bad input: dead-lettered with a reason, and the worker goes on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from celeriac import serialization, states


def _raw(client: redis.Redis, task_id: str, body: bytes, content_type: str = "application/json") -> None:
    client.xadd("celeriac:queue:default", {"id": task_id, "content-type": content_type, "body": body})


def _reasons(client: redis.Redis) -> dict[str, str]:
    return {f[b"id"].decode(): f[b"reason"].decode() for _, f in client.xrange("celeriac:dead:default")}


def test_bad_messages_go_to_the_dead_letter_stream(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    client = redis.Redis.from_url(redis_url)
    worker(app)
    ids = {name: str(uuid.uuid4()) for name in ("garbage", "pickle", "unknown", "nofields", "ctype")}
    _raw(client, ids["garbage"], b"{this is not json")
    _, pickled = serialization.dumps({"task": add.name, "id": ids["pickle"], "args": [1, 2]}, "pickle")
    _raw(client, ids["pickle"], pickled, serialization.PICKLE)
    _raw(client, ids["unknown"], json.dumps({"task": "nope.missing", "id": ids["unknown"]}).encode())
    _raw(client, ids["nofields"], json.dumps({"id": ids["nofields"]}).encode())
    _raw(client, ids["ctype"], b"<xml/>", "application/xml")
    # The worker goes on: a good task after the bad ones completes.
    assert add.delay(2, 3).get(timeout=10) == 5
    reasons = _reasons(client)
    assert "malformed message" in reasons[ids["garbage"]]
    assert "content type not accepted" in reasons[ids["pickle"]]
    assert "unknown task 'nope.missing'" in reasons[ids["unknown"]]
    assert "'task'" in reasons[ids["nofields"]]
    assert "unknown content type" in reasons[ids["ctype"]]
    assert client.xlen("celeriac:queue:default") == 0  # acked: nothing loops
    # A caller waiting on a dead-lettered task gets an answer rather than a hang.
    r = app.AsyncResult(ids["unknown"])
    assert r.state == states.REJECTED
    stats = app.broker.queue_stats("default")
    assert stats.dead == 5
    client.close()


def test_pickle_accepted_when_listed(make_app: Any, worker: Any) -> None:
    app = make_app(task_serializer="pickle", accept_content=["json", "pickle"])

    @app.task
    def kind(value: Any) -> str:
        return type(value).__name__

    worker(app)
    assert kind.delay({1, 2}).get(timeout=10) == "set"
