"""A chord whose header tasks are redelivered after their worker is SIGKILLed.

The worker holding header tasks dies mid-run; with a 3 s lease, another worker reclaims
and reruns them. The callback must still fire exactly once, with every result in order.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from celeriac.canvas import Signature, chord
from helpers import wait_for

pytestmark = pytest.mark.fault

N = 24  #: header tasks
TASK_S = 0.4  #: each header task's runtime
LEASE = {"CELERIAC_WORKER_LEASE_TIMEOUT": "3"}


def test_chord_callback_fires_once_after_worker_sigkill(make_app: Any, cli_worker: Any, redis_url: str) -> None:
    app = make_app("producer")
    client = redis.Redis.from_url(redis_url)
    try:
        first = cli_worker("-A", "canvasapp", "worker", "-P", "prefork", "-c", "2", "--prefetch-multiplier", "1",
                           env=LEASE)
        header = [Signature("canvasapp.slow", (i, TASK_S), app=app) for i in range(N)]
        res = chord(header, Signature("canvasapp.collect", app=app)).apply_async()
        # kill once a few header tasks are done and two are mid-run
        wait_for(lambda: sum(int(client.get(f"canvas:runs:{i}") or 0) for i in range(N)) >= 5,
                 timeout=60, what="header tasks to start")
        time.sleep(TASK_S / 2)
        first.kill_tree()
        first.wait(10)  # collects its output and closes the pipe
        started_before = sum(int(client.get(f"canvas:runs:{i}") or 0) for i in range(N))
        assert started_before < N, "the first worker finished everything before it was killed"
        cli_worker("-A", "canvasapp", "worker", "-P", "threads", "-c", "4", env=LEASE)
        assert res.get(timeout=90) == sum(range(N))
        runs = [int(client.get(f"canvas:runs:{i}") or 0) for i in range(N)]
        assert all(r >= 1 for r in runs)
        time.sleep(1.0)  # a second (wrong) firing would show up here
        assert int(client.get("canvas:callback:runs") or 0) == 1
        assert client.get("canvas:callback:values") == ",".join(map(str, range(N))).encode()
        assert sum(runs) > N, f"no header task was redelivered: runs={runs}"
    finally:
        client.close()
