"""``celeriac worker -P eventlet``: monkey-patched at start, hundreds of sleeping tasks at
once on redis-py, a soft time limit raised into a green thread, and the same drain on
SIGTERM as the other pools."""

from __future__ import annotations

import importlib.util
import signal
import time
from typing import Any

import pytest

from celeriac import Celeriac
from helpers import wait_for

# Only look for eventlet: importing it in the test process (importorskip does) installs its
# fork warning, which filterwarnings=error turns into a failure of any later test that forks.
if importlib.util.find_spec("eventlet") is None:
    pytest.skip("eventlet is not installed", allow_module_level=True)

N = 300
CONCURRENCY = 500
SLEEP_S = 1.0


def test_eventlet_runs_hundreds_of_sleeps_at_once_and_drains(redis_url: str, cli_worker: Any) -> None:
    w = cli_worker("-A", "compatapp", "worker", "-P", "eventlet", "-c", str(CONCURRENCY), "-n", "eventlet@x",
                   "-l", "warning")
    app = Celeriac("compat-eventlet-client", broker=redis_url, set_as_current=False)
    try:
        wait_for(lambda: app.control.ping(destination=["eventlet@x"], timeout=0.5), 30, what="eventlet@x up")
        stats = (app.control.inspect(destination=["eventlet@x"], timeout=2).stats() or {})["eventlet@x"]
        assert stats["pool"]["implementation"].endswith("eventlet")
        assert stats["pool"]["max-concurrency"] == CONCURRENCY
        stub = app.task(name="compat.when")(lambda seconds: None)  # to publish by name in bulk
        t0 = time.monotonic()
        results = stub.apply_many([(SLEEP_S,)] * N)
        spans = [r.get(timeout=60) for r in results]
        wall = time.monotonic() - t0
        makespan = max(e for _s, e in spans) - min(s for s, _e in spans)
        # one after the other: 300 s; at once: about one sleep plus the arrival of the tasks
        assert makespan < 5 * SLEEP_S, makespan
        print(f"\neventlet: {N} x time.sleep({SLEEP_S}) at -c {CONCURRENCY}: makespan {makespan:.2f} s, "
              f"client wall {wall:.2f} s")
        assert app.send_task("compat.limited", (5.0,)).get(timeout=20) == "soft limit"
        slow = [app.send_task("compat.sleep", (1.5,)) for _ in range(50)]
        wait_for(lambda: len((app.control.inspect(destination=["eventlet@x"], timeout=1).active() or {})
                             .get("eventlet@x") or []) == 50, 20, interval=0.1, what="50 running")
        w.signal(signal.SIGTERM)
        assert w.wait(40) == 0, w.output.decode()[-2000:]
        assert [r.get(timeout=10) for r in slow] == [1.5] * 50
        out = w.output.decode()
        assert "Traceback" not in out and "ERROR" not in out, out[-3000:]
    finally:
        app.close()
