"""Priorities across a deep queue, revocation (before start, on workers started later, of
prefetched tasks, terminate of running ones on every pool, the CLI) and the publish-once
guard for explicit task ids.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import states
from helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


def done(result: Any, timeout: float = 30) -> str:
    wait_for(lambda: result.state in states.READY_STATES, timeout, what=f"task {result.id} to finish")
    return str(result.state)


@pytest.fixture
def gapp(redis_url: str) -> Iterator[Any]:
    """The ``tests/apps/guarantees.py`` module, its app bound to the test Redis."""
    import guarantees

    guarantees.app.conf.broker_url = redis_url
    guarantees.app.close()
    yield guarantees
    guarantees.app.close()


def run_cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"CELERIAC_BROKER_URL": redis_url, "PYTHONPATH": f"{ROOT / 'tests' / 'apps'}:{ROOT / 'runtime'}",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "celeriac.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT / "tests" / "apps")


# -- priorities -------------------------------------------------------------------------------


def test_priority_9_published_after_10000_low_ones_starts_first(make_app: Any, worker: Any) -> None:
    app = make_app()
    order: list[str] = []

    @app.task(name="t.prio")
    def prio(tag: str) -> None:
        order.append(tag)

    low = [app.prepare("t.prio", (f"low{i}",), {}, {"priority": 0})[1] for i in range(10_000)]
    app.publish(low)
    urgent = prio.apply_async(("urgent",), priority=9)
    assert app.broker.queue_stats("default").ready == 10_001
    worker(app, concurrency=1)
    urgent.get(timeout=30)
    assert order[0] == "urgent"


# -- revocation -------------------------------------------------------------------------------


def test_revoked_before_start_never_runs_on_any_worker_even_started_later(make_app: Any, worker: Any) -> None:
    app = make_app()
    ran: list[str] = []

    @app.task(name="t.rec")
    def rec(tag: str) -> str:
        ran.append(tag)
        return tag

    doomed = rec.apply_async(("doomed",), countdown=1.0)
    doomed_now = rec.delay("doomed-now")
    app.control.revoke([doomed.id])
    doomed_now.revoke()
    worker(app)
    assert rec.delay("kept").get(timeout=10) == "kept"
    worker(app)  # a worker started after the revocation
    assert done(doomed) == done(doomed_now) == states.REVOKED
    assert app.backend.get_result(doomed.id).extra["reason"] == "revoked"
    assert sorted(ran) == ["kept"]


def test_revoking_a_prefetched_task_stops_it_before_it_starts(make_app: Any, worker: Any) -> None:
    app = make_app()
    ran: list[str] = []
    gate = threading.Event()

    @app.task(name="t.gated")
    def gated(tag: str) -> str:
        ran.append(tag)
        if tag == "first":
            gate.wait(20)
        return tag

    worker(app, concurrency=1)  # holds up to 4 (prefetch multiplier)
    first = gated.delay("first")
    wait_for(lambda: ran == ["first"], 10, what="the first task to start")
    second = gated.delay("second")
    wait_for(lambda: app.broker.queue_stats("default").in_flight == 2, 10, what="the second to be prefetched")
    second.revoke()
    time.sleep(0.5)  # the control message reaches the worker
    gate.set()
    assert first.get(timeout=10) == "first"
    assert done(second) == states.REVOKED
    assert ran == ["first"]


@pytest.mark.parametrize("pool", ["threads", "asyncio"])
def test_terminate_stops_a_running_task_in_process(make_app: Any, worker: Any, pool: str) -> None:
    import asyncio

    app = make_app()
    started = threading.Event()

    @app.task(name="t.forever")
    def forever() -> None:
        started.set()
        for _ in range(1200):
            time.sleep(0.05)

    @app.task(name="t.aforever")
    async def aforever() -> None:
        started.set()
        await asyncio.sleep(60)

    worker(app, pool=pool)
    r = (aforever if pool == "asyncio" else forever).delay()
    assert started.wait(10)
    time.sleep(0.2)
    r.revoke(terminate=True)
    assert done(r, 15) == states.REVOKED
    assert app.backend.get_result(r.id).extra["reason"] == "terminated"
    assert (aforever if pool == "asyncio" else forever).app is app


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_cli_revoke_terminate_stops_a_blocking_task_in_a_worker_process(cli_worker: Any, gapp: Any, redis_url: str,
                                                                        tmp_path: Path, pool: str) -> None:
    w = cli_worker("-A", "guarantees", "worker", "-P", pool, "-c", "1", "-l", "info",
                   env={"GUARANTEES_MARKER_DIR": str(tmp_path)})
    r = gapp.record.delay("long", 60)
    wait_for(lambda: gapp.count(tmp_path, "long") == 1, 30, what="the task to start")
    out = run_cli(redis_url, "-A", "guarantees", "revoke", r.id, "--terminate")
    assert out.returncode == 0, out.stderr
    assert f"{r.id}: revoked and terminated" in out.stdout
    assert done(r, 20) == states.REVOKED
    assert gapp.count(tmp_path, "long", ".done") == 0
    assert gapp.pid.delay().get(timeout=30) > 0  # the worker goes on
    w.stop()
    assert w.proc.returncode == 0


# -- idempotent publishing ----------------------------------------------------------------------


def test_explicit_task_id_is_enqueued_once_while_pending_or_running(make_app: Any, worker: Any) -> None:
    app = make_app()
    runs: list[str] = []
    gate = threading.Event()

    @app.task(name="t.once")
    def once(tag: str) -> str:
        runs.append(tag)
        gate.wait(20)
        return tag

    a = once.apply_async(("a",), task_id="order-42")
    b = once.apply_async(("b",), task_id="order-42")  # pending: not enqueued again
    app.send_task("t.once", ("c",), task_id="order-42")
    assert a.id == b.id == "order-42"
    assert app.broker.queue_stats("default").ready == 1
    worker(app, concurrency=2)
    wait_for(lambda: runs == ["a"], 10, what="the task to start")
    once.apply_async(("d",), task_id="order-42")  # running: not enqueued either
    gate.set()
    assert a.get(timeout=10) == "a"
    assert runs == ["a"]
    # Once the task is ready, the id may be used again.
    again = once.apply_async(("e",), task_id="order-42")
    wait_for(lambda: runs == ["a", "e"], 10, what="the re-published task to run")
    assert again.id == "order-42"
    other = once.apply_async(("f",))  # generated ids are never guarded
    assert other.get(timeout=10) == "f"
