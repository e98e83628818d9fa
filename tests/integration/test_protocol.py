"""Another language's producer: enqueue with redis-cli, read the result back (the msgpack record
decoded with Python's msgpack library, as any language's would)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import msgpack
import pytest
import redis


def _cli(url: str, *args: str) -> str:
    port = str(urlparse(url).port)
    out = subprocess.run(["redis-cli", "-p", port, "--raw", *args], check=True, capture_output=True, timeout=10)
    return out.stdout.decode(errors="replace")


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")
def test_redis_cli_producer_and_result_reader(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app("proj")

    @app.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    worker(app)
    task_id = str(uuid.uuid4())
    body = json.dumps({"task": "proj.add", "id": task_id, "args": [2, 3], "kwargs": {}})
    _cli(redis_url, "XADD", "celeriac:queue:default", "*", "id", task_id, "content-type", "application/json",
         "body", body)
    # Blocking wait, as documented: returns as soon as the record is written.
    assert _cli(redis_url, "BLMOVE", f"celeriac:done:{task_id}", f"celeriac:done:{task_id}", "RIGHT", "LEFT", "10")
    # The record is a msgpack map (any language's msgpack library reads it).
    client = redis.Redis.from_url(redis_url)
    record = msgpack.unpackb(client.lindex(f"celeriac:done:{task_id}", 0), raw=False)
    client.close()
    assert record["status"] == "SUCCESS" and json.loads(record["result"]) == 5
    assert record.get("content-type", "application/json") == "application/json"
    assert _cli(redis_url, "EXISTS", f"celeriac:result:{task_id}").strip() == "0"  # one copy only
    # And the Python side reads the same record.
    assert app.AsyncResult(task_id).get(timeout=1) == 5


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")
def test_future_eta_from_a_foreign_producer_is_delayed(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app("proj")

    @app.task(name="proj.when")
    def when() -> float:
        return time.time()

    worker(app)
    task_id = str(uuid.uuid4())
    eta = time.time() + 1.0
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(eta)) + f".{int((eta % 1) * 1e6):06d}+00:00"
    body = json.dumps({"task": "proj.when", "id": task_id, "eta": iso})
    _cli(redis_url, "XADD", "celeriac:queue:default", "*", "id", task_id, "body", body)
    ran_at = app.AsyncResult(task_id).get(timeout=10)
    assert ran_at >= eta - 0.01
