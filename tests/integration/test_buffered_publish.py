"""``task_publish_buffer``: delay() returns at once, a sender thread writes in batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def test_buffered_messages_are_all_published(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app(task_publish_buffer=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    results = [add.delay(i, i) for i in range(2000)]
    assert app.flush(timeout=30)
    client = redis.Redis.from_url(redis_url)
    assert client.xlen("celeriac:queue:default") == 2000
    worker(app)
    assert [r.get(timeout=30) for r in results[-5:]] == [2 * i for i in range(1995, 2000)]
    client.close()


def test_get_flushes_first(make_app: Any, worker: Any) -> None:
    app = make_app(task_publish_buffer=True)

    @app.task
    def one() -> int:
        return 1

    worker(app)
    assert one.delay().get(timeout=10) == 1


def test_interpreter_exit_flushes_the_buffer(redis_url: str) -> None:
    script = (
        "from celeriac import Celeriac\n"
        f"app = Celeriac('x', broker={redis_url!r}, task_publish_buffer=True)\n"
        "for i in range(500):\n"
        "    app.send_task('x.noop', [i])\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   env=dict(os.environ, PYTHONPATH=str(RUNTIME)))
    client = redis.Redis.from_url(redis_url)
    assert client.xlen("celeriac:queue:default") == 500
    client.close()
