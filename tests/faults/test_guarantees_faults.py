"""Never losing a task: real ``celeriac worker`` processes and a real redis-server, killed.

Each test counts executions exactly, from marker files the tasks write (see
``tests/apps/guarantees.py``): ``<tag>.*`` at start, ``<tag>.done.*`` at the end. What is
guaranteed, and what each test shows, is written in docs/guarantees.md.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from celeriac.errors import ConnectionLost
from helpers import wait_for

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 3.0  #: worker lease timeout in these tests (production default: 30 s)


@pytest.fixture
def gapp(redis_url: str) -> Iterator[Any]:
    """The ``tests/apps/guarantees.py`` module, its app bound to the test Redis."""
    import guarantees

    guarantees.app.conf.broker_url = redis_url
    guarantees.app.close()
    yield guarantees
    guarantees.app.close()


def env(markers: Path, **extra: str) -> dict[str, str]:
    out = {"GUARANTEES_MARKER_DIR": str(markers), "CELERIAC_WORKER_LEASE_TIMEOUT": str(LEASE_S)}
    out.update(extra)
    return out


def pids_of(markers: Path, tag: str) -> list[int]:
    return [int(p.name.split(".")[-2]) for p in markers.iterdir() if p.name.startswith(f"{tag}.")
            and not p.name.startswith(f"{tag}.done.")]


def run_cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"CELERIAC_BROKER_URL": redis_url, "PYTHONPATH": f"{ROOT / 'tests' / 'apps'}:{ROOT / 'runtime'}",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "celeriac.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT / "tests" / "apps")


def test_sigkill_mid_task_redelivers_to_another_worker(cli_worker: Any, gapp: Any, tmp_path: Path) -> None:
    a = cli_worker("-A", "guarantees", "worker", "-P", "threads", "-c", "1", "-n", "a@test", env=env(tmp_path))
    r = gapp.record.delay("k", 2.0)
    wait_for(lambda: gapp.count(tmp_path, "k") == 1, 30, what="the task to start on worker a")
    a.kill_tree()
    a.wait(10)
    killed = time.monotonic()
    cli_worker("-A", "guarantees", "worker", "-P", "threads", "-c", "1", "-n", "b@test", env=env(tmp_path))
    assert r.get(timeout=LEASE_S + 25) == "k"
    took = time.monotonic() - killed
    assert gapp.count(tmp_path, "k") == 2  # at-least-once: the killed run, then the redelivery
    assert gapp.count(tmp_path, "k", ".done") == 1
    print(f"redelivered and completed {took:.1f}s after SIGKILL (lease {LEASE_S}s)")


def test_task_3x_longer_than_the_lease_on_a_live_worker_runs_once(cli_worker: Any, gapp: Any,
                                                                   tmp_path: Path) -> None:
    workers = [cli_worker("-A", "guarantees", "worker", "-P", "threads", "-c", "1", "-n", f"{n}@test",
                          env=env(tmp_path)) for n in ("a", "b")]
    gapp.pid.delay().get(timeout=30)  # the workers are up
    r = gapp.record.delay("long", 3 * LEASE_S)
    assert r.get(timeout=60) == "long"
    time.sleep(LEASE_S)  # a wrongful reclaim would show up now at the latest
    assert gapp.count(tmp_path, "long") == 1
    assert gapp.count(tmp_path, "long", ".done") == 1
    for w in workers:
        w.stop()
        assert b"may have run twice" not in w.output and b"reclaimed" not in w.output


@pytest.mark.parametrize(("pool", "concurrency"), [("threads", 2), ("prefork", 1)])
def test_sigterm_drain_finishes_running_returns_prefetched_at_once(cli_worker: Any, gapp: Any, tmp_path: Path,
                                                                   pool: str, concurrency: int) -> None:
    tags = [f"d{i}" for i in range(4)]
    gapp.app.publish([gapp.app.prepare("guarantees.record", (t, 5.0), {}, {})[1] for t in tags])
    a = cli_worker("-A", "guarantees", "worker", "-P", pool, "-c", str(concurrency), "--prefetch-multiplier",
                   str(4 // concurrency), "--shutdown-timeout", "20", "-n", "a@test", env=env(tmp_path))
    broker = gapp.app.broker
    wait_for(lambda: sum(gapp.count(tmp_path, t) for t in tags) == concurrency, 30, what="tasks to start")
    wait_for(lambda: broker.queue_stats("default").in_flight == 4, 10, what="the rest to be prefetched")
    a.signal(signal.SIGTERM)
    # Prefetched messages go back at once, while the running ones go on.
    wait_for(lambda: broker.queue_stats("default").ready == 4 - concurrency, 5, what="prefetched to return")
    assert broker.queue_stats("default").in_flight == concurrency
    b = cli_worker("-A", "guarantees", "worker", "-P", "threads", "-c", "4", "-n", "b@test", env=env(tmp_path))
    assert a.wait(40) == 0
    wait_for(lambda: all(gapp.count(tmp_path, t, ".done") == 1 for t in tags), 30, what="every task to finish")
    assert [gapp.count(tmp_path, t) for t in tags] == [1, 1, 1, 1]  # nothing lost, nothing run twice
    b_pid = b.proc.pid
    assert sum(1 for t in tags if pids_of(tmp_path, t) == [b_pid]) == 4 - concurrency


@pytest.mark.parametrize(("pool", "second_signal"), [("threads", False), ("threads", True), ("prefork", False),
                                                     ("prefork", True), ("solo", False), ("solo", True)])
def test_task_still_running_after_the_grace_period_is_handed_back(cli_worker: Any, gapp: Any, tmp_path: Path,
                                                                  pool: str, second_signal: bool) -> None:
    grace = "60" if second_signal else "1"
    a = cli_worker("-A", "guarantees", "worker", "-P", pool, "-c", "1", "--shutdown-timeout", grace,
                   "-n", "a@test", env=env(tmp_path))
    r = gapp.record.delay("g", 6.0)
    wait_for(lambda: gapp.count(tmp_path, "g") == 1, 30, what="the task to start")
    a.signal(signal.SIGTERM)
    if second_signal:
        time.sleep(0.5)
        a.signal(signal.SIGINT)  # a second signal: hand back now instead of waiting 60 s
    assert a.wait(20) == 0
    # threads: the worker hands it back itself; prefork: the supervisor kills the busy child
    # (right away after a second signal, else 2 s after the grace period) and hands it back.
    expected = b"handed back 1 message(s) held by" if pool == "prefork" else b"handed back 1 message(s) still running"
    assert expected in a.output
    cli_worker("-A", "guarantees", "worker", "-P", "threads", "-c", "1", "-n", "b@test", env=env(tmp_path))
    assert r.get(timeout=30) == "g"
    assert gapp.count(tmp_path, "g") == 2  # handed back unfinished, so it ran again elsewhere
    assert gapp.count(tmp_path, "g", ".done") == 1


def test_poison_message_is_dead_lettered_with_history_and_dlq_cli(cli_worker: Any, gapp: Any, tmp_path: Path,
                                                                  redis_url: str) -> None:
    flag = tmp_path / "poison.flag"
    flag.touch()
    markers = tmp_path / "markers"
    markers.mkdir()
    w = cli_worker("-A", "guarantees", "worker", "-P", "prefork", "-c", "1", "-n", "a@test",
                   env=env(markers, CELERIAC_TASK_MAX_DELIVERIES="3"))
    r = gapp.poison.delay("p", str(flag))
    broker = gapp.app.broker
    wait_for(lambda: broker.queue_stats("default").dead == 1, 60, what="the poison message to be dead-lettered")
    time.sleep(1.0)
    assert gapp.count(markers, "p") == 3  # exactly task_max_deliveries runs, no more
    [dead] = broker.dead_letters("default", 10)
    assert dead.task_id == r.id and dead.deliveries == 3
    assert len(dead.history) == 3 and all("a@test" in h for h in dead.history)
    out = run_cli(redis_url, "-A", "guarantees", "dlq", "list")
    assert out.returncode == 0 and r.id in out.stdout and "deliveries=3" in out.stdout, out

    flag.unlink()  # fixed: the requeued message now succeeds
    out = run_cli(redis_url, "-A", "guarantees", "dlq", "requeue", "-Q", "default")
    assert out.returncode == 0 and "requeued 1 message(s) on default" in out.stdout, out
    assert r.get(timeout=30) == "p"
    assert gapp.count(markers, "p") == 4
    assert broker.queue_stats("default").dead == 0

    flag.touch()
    gapp.poison.delay("q", str(flag))
    wait_for(lambda: broker.queue_stats("default").dead == 1, 60, what="a second poison message")
    out = run_cli(redis_url, "-A", "guarantees", "dlq", "purge", "-f")
    assert out.returncode == 0 and "purged 1 dead letter(s) from default" in out.stdout, out
    assert broker.queue_stats("default").dead == 0
    w.stop()
    assert w.proc.returncode == 0 and b"grace period over" not in w.output


def test_redis_killed_and_restarted(cli_worker: Any, gapp: Any, tmp_path: Path, redis_server: Any) -> None:
    app = gapp.app
    app.conf.task_publish_retry_policy = {"max_retries": 2, "interval_start": 0.0, "interval_step": 0.2,
                                          "interval_max": 0.2}
    w = cli_worker("-A", "guarantees", "worker", "-P", "threads", "-c", "2", "-n", "a@test",
                   env=env(tmp_path, CELERIAC_WORKER_LEASE_TIMEOUT="10"))
    first = [gapp.record.delay(f"r{i}", 0.5) for i in range(10)]
    wait_for(lambda: sum(gapp.count(tmp_path, f"r{i}", ".done") for i in range(10)) >= 3, 30,
             what="some tasks to finish")
    redis_server.kill()
    try:
        with pytest.raises(ConnectionLost, match=r"after 2 retries.*task_publish_retry_policy"):
            gapp.record.delay("never", 0)
        time.sleep(1.5)  # tasks finish while Redis is down; their results wait in the worker
    finally:
        redis_server.start()
    second = [gapp.record.delay(f"s{i}", 0.1) for i in range(10)]
    tags = [f"r{i}" for i in range(10)] + [f"s{i}" for i in range(10)]
    for res, tag in zip(first + second, tags, strict=True):
        assert res.get(timeout=60) == tag
        assert res.state == states.SUCCESS
    assert [gapp.count(tmp_path, t) for t in tags] == [1] * 20  # nothing acked re-ran, nothing lost
    assert gapp.count(tmp_path, "never") == 0
    assert w.proc.poll() is None  # the same worker carried on, no restart
    w.stop()
    assert w.proc.returncode == 0
