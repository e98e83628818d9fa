"""What docs/protocol.md tells a producer in another language, checked with raw Redis
commands (no celeriac code on the producing side): the consumer group made by the worker
from id 0, ``SADD celeriac:queues``, the priority stream, ``<step>`` in a delayed member,
a naive ``eta`` read as UTC, a malformed message dead-lettered at once with a ``REJECTED``
record, and string values in the result record."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import msgpack
import pytest
import redis

from helpers import wait_for


def _body(task: str, task_id: str, **fields: Any) -> str:
    return json.dumps({"task": task, "id": task_id, "args": [2, 3], "kwargs": {}, **fields})


def test_a_foreign_producer_by_the_doc(redis_url: str, make_app: Any, worker: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # West of UTC: a worker reading a naive eta as local time would wait five hours.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    client = redis.Redis.from_url(redis_url)
    app = make_app("foreign")

    @app.task(name="f.add")
    def add(x: int, y: int) -> int:
        return x + y

    before = str(uuid.uuid4())  # published before any worker exists (no group yet)
    client.sadd("celeriac:queues", "default")
    client.xadd("celeriac:queue:default", {"id": before, "content-type": "application/json",
                                           "body": _body("f.add", before)})
    urgent = str(uuid.uuid4())
    client.xadd("celeriac:queue:default:p9", {"id": urgent, "body": _body("f.add", urgent, priority=9)})
    delayed = str(uuid.uuid4())
    due_ms = int((time.time() + 0.5) * 1000)
    client.zadd("celeriac:delayed:default", {f"9\n{delayed}\napplication/json\n{_body('f.add', delayed)}": due_ms})
    naive = str(uuid.uuid4())  # a naive eta: read as UTC
    eta = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    client.xadd("celeriac:queue:default", {"id": naive, "body": _body("f.add", naive, eta=eta)})
    bad = str(uuid.uuid4())
    client.xadd("celeriac:queue:default", {"id": bad, "body": _body("f.add", bad, args="not a list")})
    try:
        assert "default" in app.broker.known_queues()
        t0 = time.time()
        worker(app)
        for task_id in (before, urgent, delayed, naive):
            assert app.AsyncResult(task_id).get(timeout=15) == 5
        assert time.time() - t0 < 10  # a naive eta read as local time far from UTC would wait hours
        wait_for(lambda: app.AsyncResult(bad).state == "REJECTED", 10, what="the malformed one rejected")
        dead = client.xrange("celeriac:dead:default")
        assert any(fields[b"id"].decode() == bad and b"reason" in fields for _i, fields in dead)
        groups = client.xinfo_groups("celeriac:queue:default")
        assert [g["name"] for g in groups] == [b"celeriac"]
        record = msgpack.unpackb(client.lindex(f"celeriac:done:{before}", 0), raw=False)
        assert all(isinstance(v, str) for v in record.values()), record
        assert float(record["date_done"]) > 0 and json.loads(record["result"]) == 5
    finally:
        client.close()
        monkeypatch.undo()
        time.tzset()
