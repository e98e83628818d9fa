"""celeriac events / inspect / control / status / task against a real prefork worker
subprocess (replies aggregated per hostname) and real Redis, through click's CliRunner."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from celeriac.cli import main
from helpers import wait_for


def _run(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["-A", "observeapp", "-b", redis_url, *args], catch_exceptions=False)


def _children(redis_url: str) -> int:
    """How many prefork children answered (Celery's ``stats()['pool']['processes']``)."""
    return len(_stats(redis_url).get("obs@host", {}).get("pool", {}).get("processes", []))


def _stats(redis_url: str) -> dict[str, Any]:
    res = _run(redis_url, "inspect", "stats", "--json", "-t", "2")
    return json.loads(res.output) if res.exit_code == 0 else {}


def test_cli_against_a_prefork_worker(redis_url: str, make_app: Any, cli_worker: Any) -> None:
    w = cli_worker("-A", "observeapp", "worker", "-P", "prefork", "-c", "2", "-n", "obs@host",
                   env={"CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5"})
    wait_for(lambda: _children(redis_url) == 2, 30, interval=0.3, what="2 children")
    res = _run(redis_url, "inspect", "ping")
    assert res.exit_code == 0 and "-> obs@host: OK pong" in res.output and "1 worker(s) replied" in res.output
    res = _run(redis_url, "inspect", "registered")
    assert "obs.add" in res.output
    app = make_app("observeapp")
    slow = app.send_task("obs.sleep", (3.0,))
    done = app.send_task("obs.add", (2, 3))
    assert done.get(timeout=20) == 5
    active = wait_for(lambda: json.loads(_run(redis_url, "inspect", "active", "--json").output or "{}"), 10)
    assert [t["id"] for t in active["obs@host"]] == [slow.id]
    for what in ("reserved", "scheduled", "revoked"):
        assert _run(redis_url, "inspect", what).exit_code == 0
    # events: dump as JSON and as lines
    res = _run(redis_url, "events", "--from-start", "--json", "--timeout", "1")
    kinds = {json.loads(line)["type"] for line in res.output.splitlines()}
    assert {"task-sent", "task-succeeded", "worker-online"} <= kinds
    res = _run(redis_url, "events", "--dump", "--timeout", "1")
    assert "obs@host [" in res.output and f"task-succeeded: uuid={done.id}" in res.output
    res = _run(redis_url, "events", "--from-start", "--count", "1", "--timeout", "5")
    assert res.exit_code == 0 and len(res.output.splitlines()) == 1
    # status and task
    res = _run(redis_url, "status")
    assert res.exit_code == 0 and "obs@host" in res.output and "prefork x2" in res.output
    assert "default" in res.output
    res = _run(redis_url, "status", "--watch", "-n", "0.1", "--iterations", "2")
    assert res.exit_code == 0
    res = _run(redis_url, "task", done.id)
    assert res.exit_code == 0 and "SUCCESS" in res.output and "task-succeeded" in res.output
    assert "result:   5" in res.output and "obs@host" in res.output
    res = _run(redis_url, "task", "no-such-task")
    assert res.exit_code == 1
    # control: whole-worker commands are done once per prefork worker
    res = _run(redis_url, "control", "pool_grow", "1")
    assert res.exit_code == 0
    wait_for(lambda: _children(redis_url) == 3, 30, interval=0.3, what="3 children")
    res = _run(redis_url, "control", "pool_shrink", "1")
    wait_for(lambda: _children(redis_url) == 2, 30, interval=0.3, what="2 children")
    res = _run(redis_url, "control", "add_consumer", "other")
    # one answer per worker, as Celery prints it, though both children obeyed
    assert res.exit_code == 0 and res.output.count("now consuming") == 1, res.output
    assert app.send_task("obs.add", (1, 1), queue="other").get(timeout=20) == 2
    res = _run(redis_url, "control", "cancel_consumer", "other")
    assert res.exit_code == 0 and res.output.count("no longer") == 1, res.output
    res = _run(redis_url, "control", "rate_limit", "obs.add", "10/s")
    assert res.exit_code == 0
    assert slow.get(timeout=20) == 3.0
    res = _run(redis_url, "control", "shutdown")
    assert res.exit_code == 0
    assert w.wait(40) == 0
