"""Health endpoints of ``celeriac worker`` and ``celeriac beat`` (real processes, real Redis).

What is proved: ``/livez`` and ``/readyz`` answer 200 on a running worker (threads and
prefork) and beat; ``/readyz`` turns 503 while Redis is down and back to 200 when it
returns, while ``/livez`` stays 200 throughout (a broker outage never restarts a pod);
the bind addresses are honoured; the checks themselves never touch the broker.
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from celeriac.health import HealthServer, Progress, SharedProgress
from helpers import free_port, wait_for


def _get(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return 0, "unreachable"


def _status(port: int, path: str) -> int:
    return _get(port, path)[0]


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_worker_probes_follow_the_broker_not_the_other_way(cli_worker: Any, redis_server: Any,
                                                           pool: str) -> None:
    port, metrics_port = free_port(), free_port()
    w = cli_worker("-A", "basic", "worker", "-P", pool, "-c", "2", "--health-port", str(port),
                   "--health-bind", "127.0.0.1", "--metrics-port", str(metrics_port), "--metrics-bind", "127.0.0.1",
                   env={"CELERIAC_WORKER_HEARTBEAT_INTERVAL": "1"})
    try:
        wait_for(lambda: _status(port, "/readyz") == 200, 30, interval=0.1, what="/readyz 200")
        assert _get(port, "/livez") == (200, "ok\n")
        assert _status(port, "/other") == 404
        assert _status(metrics_port, "/metrics") == 200
        redis_server.kill()
        try:
            wait_for(lambda: _status(port, "/readyz") == 503, 30, interval=0.1, what="/readyz 503 without Redis")
            assert "broker" in _get(port, "/readyz")[1]
            assert _status(port, "/livez") == 200  # still alive: restarting would not help
            time.sleep(2)
            assert _status(port, "/livez") == 200
        finally:
            redis_server.restart()
        wait_for(lambda: _status(port, "/readyz") == 200, 60, interval=0.2, what="/readyz 200 again")
        w.signal(signal.SIGTERM)
        assert w.wait(40) == 0
    finally:
        w.stop()


def test_beat_probes(cli_worker: Any) -> None:
    port = free_port()
    beat = cli_worker("-A", "beatapp", "beat", "-l", "info", "--health-port", str(port))
    try:
        wait_for(lambda: _status(port, "/readyz") == 200, 30, interval=0.1, what="beat /readyz 200")
        assert _get(port, "/readyz")[1] in ("leading\n", "standing by\n")
        wait_for(lambda: _get(port, "/readyz")[1] == "leading\n", 30, interval=0.1, what="the beat to lead")
        assert _status(port, "/livez") == 200
    finally:
        beat.stop()


def test_checks_read_progress_only() -> None:
    p = Progress()
    assert p.live() == (True, "ok")
    assert p.ready() == (False, "not connected to the broker yet")
    p.broker_ok = time.monotonic()
    assert p.ready() == (True, "ok")
    p.broker_failed = time.monotonic() + 0.001
    assert p.ready() == (False, "broker unreachable")
    p.tick = time.monotonic() - 100
    assert not p.live()[0]
    p.busy = True  # inside a task: time limits bound it, not the probe
    assert p.live() == (True, "running a task")
    p.stopping = True
    assert p.ready() == (False, "shutting down")

    shared = SharedProgress(2)
    a, b = shared.claim(), shared.claim()
    assert (a, b, shared.claim()) == (0, 1, None)
    q = Progress()
    q.broker_ok = time.monotonic()
    assert a is not None
    shared.write(a, q)
    assert shared.read(a).ready() == (True, "ok")
    shared.release(b)
    assert shared.used() == [0]

    port = free_port()
    server = HealthServer(port, q.live, lambda: (False, "nope"), bind="127.0.0.1")
    try:
        assert _get(port, "/livez") == (200, "ok\n")
        assert _get(port, "/readyz") == (503, "nope\n")
        assert _get(port, "/livez?verbose=1")[0] == 200
    finally:
        server.close()
