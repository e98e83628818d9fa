"""``celeriac worker -P gevent``: monkey-patched at start, a thousand sleeping tasks at once,
time limits raised into greenlets, and the same drain as the other pools; measured against
the asyncio pool on the same thousand sleeps (``async def`` there)."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from celeriac import Celeriac
from helpers import wait_for

pytest.importorskip("gevent")

N = 1000
SLEEP_S = 1.0


def _client(redis_url: str) -> Celeriac:
    return Celeriac("compat-gevent-client", broker=redis_url, set_as_current=False)


def _ping(app: Celeriac, host: str) -> None:
    wait_for(lambda: app.control.ping(destination=[host], timeout=0.5), 30, what=f"{host} up")


def _run_thousand(app: Celeriac, task: str) -> tuple[float, float]:
    """(makespan, wall): first start to last end as the tasks saw it, and the client's time
    from the first publish to the last result."""
    stub = app.tasks.get(task) or app.task(name=task)(lambda seconds: None)  # to publish by name in bulk
    t0 = time.monotonic()
    results = stub.apply_many([(SLEEP_S,)] * N)  # batched round trips: they arrive together
    spans = [r.get(timeout=60) for r in results]
    wall = time.monotonic() - t0
    return max(e for _s, e in spans) - min(s for s, _e in spans), wall


def test_gevent_runs_a_thousand_sleeps_at_once_and_drains(redis_url: str, cli_worker: Any) -> None:
    w = cli_worker("-A", "compatapp", "worker", "-P", "gevent", "-c", str(N), "-n", "gevent@x", "-l", "warning")  # 2000 INFO lines would fill the pipe
    app = _client(redis_url)
    try:
        _ping(app, "gevent@x")
        stats = (app.control.inspect(destination=["gevent@x"], timeout=2).stats() or {})["gevent@x"]
        assert stats["pool"]["implementation"].endswith("gevent") and stats["pool"]["max-concurrency"] == N
        makespan, wall = _run_thousand(app, "compat.when")
        # one after the other: 1000 s; a hundred at a time: 10 s. At once: about one sleep
        # (plus the time the tasks take to arrive).
        assert makespan < 5 * SLEEP_S, makespan
        print(f"\ngevent: {N} x time.sleep({SLEEP_S}): makespan {makespan:.2f} s, client wall {wall:.2f} s")
        assert app.send_task("compat.limited", (5.0,)).get(timeout=20) == "soft limit"
        # drain: SIGTERM while tasks sleep; they finish, the worker exits 0
        slow = [app.send_task("compat.sleep", (1.5,)) for _ in range(50)]
        wait_for(lambda: len((app.control.inspect(destination=["gevent@x"], timeout=1).active() or {})
                             .get("gevent@x") or []) == 50, 20, interval=0.1, what="50 running")
        w.signal(signal.SIGTERM)
        assert w.wait(40) == 0, w.output.decode()[-2000:]
        assert [r.get(timeout=10) for r in slow] == [1.5] * 50
    finally:
        app.close()


def test_gevent_against_asyncio(redis_url: str, cli_worker: Any) -> None:
    """The figures of docs/celery-compat.md ("Pools"): the same thousand one-second sleeps."""
    app = _client(redis_url)
    figures: dict[str, tuple[float, float]] = {}
    try:
        for pool, task in (("gevent", "compat.when"), ("asyncio", "compat.awhen")):
            w = cli_worker("-A", "compatapp", "worker", "-P", pool, "-c", str(N), "-n", f"{pool}@bench", "-l", "warning")
            _ping(app, f"{pool}@bench")
            figures[pool] = _run_thousand(app, task)
            w.stop()
    finally:
        app.close()
    print(f"\n{N} x sleep({SLEEP_S}) (makespan, client wall): "
          + ", ".join(f"{p} {m:.2f} s, {w:.2f} s" for p, (m, w) in figures.items()))
    assert all(m < 5 * SLEEP_S for m, _w in figures.values()), figures
