"""The classic example exactly as a Celery user writes and runs it (examples/classic)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

CLASSIC = Path(__file__).resolve().parents[2] / "examples" / "classic"
RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def test_classic_add_through_queue_add(redis_url: str, monkeypatch: Any) -> None:
    env = dict(os.environ, CELERIAC_BROKER_URL=redis_url,
               PYTHONPATH=os.pathsep.join([str(CLASSIC), str(RUNTIME)]))
    monkeypatch.setenv("CELERIAC_BROKER_URL", redis_url)
    monkeypatch.syspath_prepend(str(CLASSIC))
    for name in ("tasks", "celeryconfig"):
        sys.modules.pop(name, None)
    import tasks

    assert tasks.add.name == "tasks.add"  # named as Celery names it
    assert tasks.app.conf.timezone == "Asia/Shanghai"
    client = redis.Redis.from_url(redis_url)
    pending = tasks.add.delay(2, 3)  # before any worker: it waits in queue "add"
    assert client.xlen("celeriac:queue:add") == 1
    worker = subprocess.Popen(
        [sys.executable, "-m", "celeriac.cli", "-A", "tasks", "worker", "--concurrency=2", "--loglevel=debug",
         "-Q", "add,default"],
        cwd=CLASSIC, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert pending.get(timeout=30) == 5
        assert tasks.add.delay(2, 3).get(timeout=10) == 5
        assert tasks.mul.delay(6, 7).get(timeout=10) == 42  # routed to the default queue
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=30)
        client.close()
        tasks.app.close()
        for name in ("tasks", "celeryconfig"):
            sys.modules.pop(name, None)
    assert worker.returncode == 0
    log = out.decode()
    assert "queues:      add, default" in log
    assert "payload: args=[2, 3]" in log  # --loglevel=debug shows the payload


def test_worker_without_q_consumes_configured_and_default(redis_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("CELERIAC_BROKER_URL", redis_url)
    monkeypatch.syspath_prepend(str(CLASSIC))
    for name in ("tasks", "celeryconfig"):
        sys.modules.pop(name, None)
    import tasks

    from celeriac.worker.worker import Worker

    try:
        assert Worker(tasks.app, pool="solo").queues == ["add", "default"]
    finally:
        tasks.app.close()
        for name in ("tasks", "celeryconfig"):
            sys.modules.pop(name, None)


def test_classic_runs_on_the_embedded_default(tmp_path: Path) -> None:
    """As the README says: no broker configured, the embedded SQLite file named after the app
    (HOME points at a scratch directory, so the file lands there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERIAC_") and k != "BROKER_URL"}
    env.update(HOME=str(tmp_path), PYTHONPATH=os.pathsep.join([str(CLASSIC), str(RUNTIME)]))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celeriac.cli", "-A", "tasks", "worker", "--concurrency=2", "-Q", "add,default"],
        cwd=CLASSIC, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        client = subprocess.run(
            [sys.executable, "-c", "from tasks import add, mul; print(add.delay(2, 3).get(timeout=30), "
                                   "mul.delay(6, 7).get(timeout=30))"],
            cwd=CLASSIC, env=env, capture_output=True, text=True, timeout=60)
        assert client.stdout.split() == ["5", "42"], client.stderr
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=30)
    db = tmp_path / ".local" / "share" / "celeriac" / "tasks.db"
    assert db.exists() and f"embedded SQLite broker at {db}" in out.decode()


def test_quickstart_prints_results_not_the_task_log(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERIAC_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(RUNTIME))
    res = subprocess.run([sys.executable, str(CLASSIC.parents[0] / "quickstart.py")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert "add.delay(2, 3) -> 5" in res.stdout and "mul.delay(6, 7) -> 42" in res.stdout
    assert len(lines) < 15, lines  # the worker's per-task INFO lines go to its log file
    assert not any("succeeded in" in line for line in lines)
