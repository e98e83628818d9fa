"""``inspect()`` and ``control`` replies in Celery's shape, against a real prefork worker
with two children (one answer per worker, keyed by hostname), so that monitoring scripts
written for Celery read them unchanged."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from celeriac import Celeriac
from celeriac.cli import main
from helpers import wait_for

HOST = "compat@host"


def _cli(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["-A", "compatapp", "-b", redis_url, *args], catch_exceptions=False)


def test_inspect_and_control_replies_as_celery(redis_url: str, cli_worker: Any) -> None:
    w = cli_worker("-A", "compatapp", "worker", "-P", "prefork", "-c", "2", "-n", HOST)
    app = Celeriac("compatapp-client", broker=redis_url, set_as_current=False)
    try:
        ins = app.control.inspect(timeout=2.0)

        def both_children() -> bool:
            stats = (ins.stats() or {}).get(HOST)
            return bool(stats) and len(stats["pool"]["processes"]) == 2

        wait_for(both_children, 30, interval=0.3, what="both children answering")
        assert ins.ping() == {HOST: {"ok": "pong"}}
        assert app.control.ping(timeout=2.0) == [{HOST: {"ok": "pong"}}]

        stats = (ins.stats() or {})[HOST]
        for key in ("broker", "clock", "pid", "pool", "prefetch_count", "rusage", "total", "uptime"):
            assert key in stats, key
        assert stats["pid"] == w.proc.pid  # the worker's main process, as Celery's
        assert stats["pool"]["max-concurrency"] == 2
        assert stats["broker"]["transport"] == "redis" and isinstance(stats["broker"]["port"], int)
        assert {"utime", "stime", "maxrss"} <= set(stats["rusage"])

        assert app.send_task("compat.add", (1, 2)).get(timeout=10) == 3
        wait_for(lambda: (ins.stats() or {}).get(HOST, {}).get("total", {}).get("compat.add") == 1, 10,
                 what="stats total counts the task")

        slow = app.send_task("compat.sleep", (3.0,))
        active = wait_for(lambda: (ins.active() or {}).get(HOST), 10, what="an active task")
        (one,) = active
        assert one["id"] == slow.id and one["name"] == "compat.sleep" and one["args"] == [3.0]
        assert one["kwargs"] == {} and one["hostname"] == HOST and one["time_start"]
        assert one["delivery_info"]["routing_key"] == "default" and one["worker_pid"] != w.proc.pid
        assert ins.query_task(slow.id) == {HOST: {slow.id: ["active", one]}}
        assert ins.query_task("no-such-id") == {HOST: {}}
        assert ins.scheduled() == {HOST: []}  # ETA tasks wait in the broker, not in a worker
        assert isinstance(ins.reserved()[HOST], list)  # type: ignore[index]

        registered = (ins.registered() or {})[HOST]
        assert "compat.add" in registered and "compat.sleep" in registered
        with_rate = (ins.registered("rate_limit") or {})[HOST]
        assert "compat.add [rate_limit=100/s]" in with_rate and "compat.sleep" in with_rate

        (queue,) = (ins.active_queues() or {})[HOST]
        assert queue["name"] == "default" and queue["routing_key"] == "default"
        assert isinstance((ins.clock() or {})[HOST]["clock"], int)
        conf = (ins.conf() or {})[HOST]
        assert "broker_url" in conf and "u:pw" not in json.dumps(conf)
        assert "software -> celeriac:" in (ins.report() or {})[HOST]["ok"]

        app.control.revoke("never-ran")
        assert "never-ran" in wait_for(lambda: (ins.revoked() or {}).get(HOST), 10, what="revoked id")

        # whole-worker commands: done once, answered once per worker
        assert app.control.pool_grow(1, timeout=2.0) == [{HOST: {"ok": "pool will grow by 1"}}]
        wait_for(lambda: len(((ins.stats() or {}).get(HOST) or {}).get("pool", {}).get("processes", [])) == 3,
                 30, interval=0.3, what="a third child")
        (reply,) = app.control.add_consumer("other", timeout=2.0)
        assert reply == {HOST: {"ok": "now consuming from 'other'"}}
        res = _cli(redis_url, "control", "cancel_consumer", "other")
        assert res.exit_code == 0 and res.output.count(f"-> {HOST}: no longer consuming") == 1, res.output
        res = _cli(redis_url, "inspect", "ping")
        assert f"-> {HOST}: OK pong" in res.output
        res = _cli(redis_url, "inspect", "query_task", slow.id, "--json")
        assert res.exit_code == 0 and slow.id in json.loads(res.output)[HOST]
        res = _cli(redis_url, "inspect", "report")
        assert "software -> celeriac:" in res.output
        assert slow.get(timeout=20) == 3.0
    finally:
        app.close()
    w.stop()
    assert w.proc.returncode == 0
