"""Enqueue once across real worker processes that stop and die (real Redis).

What is proved: a task id enqueued once is refused again after its worker was restarted,
and while its message sits with a worker that was SIGKILLed mid-task; the redelivered
message then runs to its result, and the finished task is still refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from helpers import wait_for


def _runs(marker: Path, tag: str) -> int:
    return sum(1 for name in os.listdir(marker) if name.startswith(f"{tag}."))


def test_enqueue_once_survives_worker_restart_and_kill(make_app: Any, cli_worker: Any, tmp_path: Path) -> None:
    app = make_app("producer")
    env = {"CELERIAC_TEST_MARKER_DIR": str(tmp_path), "CELERIAC_WORKER_LEASE_TIMEOUT": "3",
           "CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5"}
    args = ("-A", "basic", "worker", "-P", "prefork", "-c", "1")

    assert app.enqueue_once("basic.sleep", (0.05, "a"), task_id="restart-a")
    first = cli_worker(*args, env=env)
    assert app.AsyncResult("restart-a").get(timeout=30) == "a"
    first.stop()  # SIGTERM, clean exit
    assert not app.enqueue_once("basic.sleep", (0.05, "a"), task_id="restart-a")

    second = cli_worker(*args, env=env)
    assert app.enqueue_once("basic.sleep", (3.0, "b"), task_id="restart-b")
    wait_for(lambda: any("restart-b" in w.running for w in app.live_workers()), 30, interval=0.05,
             what="restart-b running")
    second.kill_tree()  # the node dies mid-task; its message is still held
    second.wait(10)  # reap it and close its output pipe
    info = app.lookup_tasks(["restart-b"])["restart-b"]
    assert info.presence == "queued"
    assert not app.enqueue_once("basic.sleep", (3.0, "b"), task_id="restart-b")

    cli_worker(*args, env=env)  # reclaims the dead worker's message after the lease
    assert app.AsyncResult("restart-b").get(timeout=60) == "b"
    assert not app.enqueue_once("basic.sleep", (3.0, "b"), task_id="restart-b")
    assert app.lookup_tasks(["restart-b"])["restart-b"].presence == "recorded"
    assert (_runs(tmp_path, "a"), _runs(tmp_path, "b")) == (1, 1)
