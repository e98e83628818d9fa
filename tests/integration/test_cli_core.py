"""The command line as a user runs it: a real worker process per pool, call/result/queues/purge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

APPS = Path(__file__).resolve().parents[1] / "apps"
ROOT = Path(__file__).resolve().parents[2]


def run_cli(redis_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CELERIAC_BROKER_URL=redis_url,
               PYTHONPATH=os.pathsep.join([str(APPS), str(ROOT / "runtime")]))
    proc = subprocess.run([sys.executable, "-m", "celeriac.cli", *args], env=env, cwd=APPS,
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"celeriac {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
    return proc


@pytest.fixture
def basic_app(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CELERIAC_BROKER_URL", redis_url)
    import basic

    basic.app.conf.broker_url = redis_url
    basic.app.close()
    yield basic
    basic.app.close()


@pytest.mark.parametrize("pool", ["prefork", "threads", "asyncio", "solo"])
def test_worker_pools_run_tasks(cli_worker: Any, basic_app: Any, pool: str) -> None:
    w = cli_worker("-A", "basic", "worker", "-P", pool, "-c", "2", "-Q", "default,add", "--loglevel", "info")
    assert basic_app.add.delay(2, 3).get(timeout=30) == 5
    assert basic_app.async_add.delay(4, 5).get(timeout=30) == 9
    pids = {r.get(timeout=30) for r in [basic_app.pid.delay() for _ in range(20)]}
    if pool == "prefork":
        assert len(pids) >= 1 and os.getpid() not in pids
    w.signal(15)
    assert w.wait(30) == 0
    log = w.output.decode()
    assert "basic.add" in log and "received" in log and "succeeded in" in log


def test_asyncio_pool_runs_many_coroutines_at_once(cli_worker: Any, basic_app: Any) -> None:
    cli_worker("-A", "basic", "worker", "-P", "asyncio", "-c", "50", "--loglevel", "warning")
    basic_app.add.delay(1, 1).get(timeout=30)  # worker is up
    started = time.monotonic()
    results = [basic_app.async_sleep.delay(0.5) for _ in range(40)]
    assert [r.get(timeout=30) for r in results] == [0.5] * 40
    assert time.monotonic() - started < 10  # 40 x 0.5 s run concurrently, not 20 s in sequence


def test_call_result_queues_purge(cli_worker: Any, basic_app: Any, redis_url: str) -> None:
    task_id = run_cli(redis_url, "-A", "basic", "call", "basic.add", "--args", "[2, 3]").stdout.strip()
    out = json.loads(run_cli(redis_url, "-A", "basic", "queues", "--json").stdout)
    by_name = {q["queue"]: q for q in out}
    assert by_name["default"]["ready"] == 1
    cli_worker("-A", "basic", "worker", "-P", "threads", "-c", "2")
    shown = run_cli(redis_url, "-A", "basic", "result", task_id, "--wait").stdout
    assert "state: SUCCESS" in shown and "result: 5" in shown
    waited = run_cli(redis_url, "-A", "basic", "call", "basic.add", "-a", "[1, 1]", "--wait").stdout.split()
    assert waited[-1] == "2"
    run_cli(redis_url, "-A", "basic", "call", "basic.add", "-a", "[1, 1]", "-Q", "nobody-consumes")
    purged = run_cli(redis_url, "-A", "basic", "purge", "-Q", "nobody-consumes", "-f").stdout
    assert "purged 1 message(s)" in purged
    assert basic_app.app.broker.queue_stats("nobody-consumes").ready == 0


def test_cli_errors_are_one_clear_line(redis_url: str) -> None:
    bad = run_cli(redis_url, "-A", "no_such_module", "queues", check=False)
    assert bad.returncode != 0 and "cannot import app module" in bad.stderr
    args = run_cli(redis_url, "-A", "basic", "call", "basic.add", "--args", "{oops", check=False)
    assert args.returncode != 0 and "--args must be JSON" in args.stderr
    assert "Traceback" not in args.stderr
    down = subprocess.run([sys.executable, "-m", "celeriac.cli", "-b", "redis://127.0.0.1:1/0", "queues"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "runtime")))
    assert down.returncode == 1 and down.stderr.startswith("Error: redis unreachable")
