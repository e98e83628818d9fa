"""SQLite shared by real processes: two workers and a producer on one file.

Every task completes exactly once (marker files count executions), and a SIGKILLed
worker's task is redelivered to another worker after its lease runs out.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from celeriac import Celeriac
from helpers import wait_for


def _producer(url: str) -> Any:
    return Celeriac("producer", broker=url, set_as_current=False)


def _runs(marker_dir: Path) -> Counter[str]:
    return Counter(p.name.split(".", 1)[0] for p in marker_dir.iterdir())


def test_two_workers_and_a_producer_share_one_file(tmp_path: Path, cli_worker: Any) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {"CELERIAC_BROKER_URL": url, "CELERIAC_TEST_MARKER_DIR": str(markers)}
    workers = [cli_worker("-A", "basic", "worker", "-P", "prefork", "-c", "2", env=env),
               cli_worker("-A", "basic", "worker", "-P", "threads", "-c", "2", env=env)]
    app = _producer(url)
    try:
        n = 300
        results = [app.send_task("basic.sleep", args=[0.002, f"t{i}"]) for i in range(n)]
        assert [r.get(timeout=90) for r in results] == [f"t{i}" for i in range(n)]
        assert all(r.state == "SUCCESS" for r in results)
        runs = _runs(markers)
        assert len(runs) == n and set(runs.values()) == {1}, "every task ran exactly once"
        assert app.broker.queue_stats("default").depth == 0
        for w in workers:
            w.signal(signal.SIGTERM)
            assert w.wait(60) == 0, w.output.decode(errors="replace")[-2000:]
    finally:
        app.close()


def test_killed_worker_task_is_redelivered(tmp_path: Path, cli_worker: Any) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {"CELERIAC_BROKER_URL": url, "CELERIAC_TEST_MARKER_DIR": str(markers),
           "CELERIAC_WORKER_LEASE_TIMEOUT": "2", "CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5"}
    first = cli_worker("-A", "basic", "worker", "-P", "solo", env=env)
    app = _producer(url)
    try:
        pid_result = app.send_task("basic.pid")
        first_pid = pid_result.get(timeout=60)
        long = app.send_task("basic.sleep", args=[1.5, "long"])
        # The marker is written after the sleep: wait until the worker holds the message.
        wait_for(lambda: app.broker.queue_stats("default").in_flight == 1, 30, what="the task in flight")
        first.kill_tree()
        first.wait(10)  # collects its output and closes the pipe
        assert not any(p.name.startswith("long.") for p in markers.iterdir())
        second = cli_worker("-A", "basic", "worker", "-P", "solo", env=env)
        assert long.get(timeout=60) == "long"
        runs = list(markers.iterdir())
        assert len(runs) == 1 and runs[0].name.split(".")[1] != str(first_pid)
        second.signal(signal.SIGTERM)
        assert second.wait(60) == 0
        assert app.broker.queue_stats("default").depth == 0
        assert os.path.exists(tmp_path / "crash.db-wal") or os.path.exists(tmp_path / "crash.db")
    finally:
        app.close()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_killed_prefork_child_is_released_at_once(tmp_path: Path, cli_worker: Any) -> None:
    """The supervisor hands back a dead child's messages itself: no wait for the lease."""
    url = f"sqlite:///{tmp_path / 'prefork.db'}"
    env = {"CELERIAC_BROKER_URL": url, "CELERIAC_WORKER_LEASE_TIMEOUT": "600"}
    w = cli_worker("-A", "basic", "worker", "-P", "prefork", "-c", "2", env=env)
    app = _producer(url)
    try:
        assert app.send_task("basic.add", args=[1, 1]).get(timeout=60) == 2
        wait_for(lambda: len(_children(w.proc.pid)) == 2, 30, what="two prefork children")
        long = app.send_task("basic.sleep", args=[2.0, "held"])
        wait_for(lambda: app.broker.queue_stats("default").in_flight == 1, 30, what="the task in flight")
        for child in _children(w.proc.pid):
            os.kill(child, signal.SIGKILL)
        assert long.get(timeout=60) == "held"  # long before the 600 s lease
        w.signal(signal.SIGTERM)
        assert w.wait(60) == 0
        assert app.broker.queue_stats("default").depth == 0
    finally:
        app.close()
