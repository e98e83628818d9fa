"""Metrics beyond the Prometheus scrape test: beat's /metrics, redeliveries, queue gauges
from the collector lease; events on the memory:// transport."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

from celeriac import events as ev
from helpers import free_port, wait_for


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _value(text: str, series: str) -> float | None:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_beat_serves_fired_and_missed(cli_worker: Any) -> None:
    port = free_port()
    cli_worker("-A", "beatapp", "beat", "--metrics-port", str(port), "--lease-ttl", "2",
               "--renew-interval", "0.5")
    text = wait_for(lambda: (t := _scrape(port)) and (_value(t, "celeriac_beat_runs_fired_total") or 0) >= 1 and t,
                    30, interval=0.3, what="a fired run")
    assert _value(text, "celeriac_beat_runs_missed_total") is not None
    assert _value(text, "celeriac_beat_leader") == 1.0


def test_redeliveries_and_queue_gauges(make_app: Any, worker: Any) -> None:
    port = free_port()
    app = make_app("m2", worker_metrics_port=port, worker_heartbeat_interval=0.2)

    @app.task(name="m2.add")
    def add(x: int, y: int) -> int:
        return x + y

    app.send_task("m2.add", (1, 1), queue="redo")
    app.broker.ensure_queues(["redo"])
    (d,) = app.broker.fetch(["redo"], "dead-consumer", 1, 1.0)
    app.broker.requeue([d], count_delivery=True)  # as if its worker had died
    app.send_task("m2.add", (1, 1), queue="redo", countdown=3600)
    w = worker(app, queues=["redo"])
    text = wait_for(lambda: (t := _scrape(port)) and _value(t, 'celeriac_task_redeliveries_total{queue="redo"}')
                    and _value(t, 'celeriac_queue_delayed{queue="redo"}') == 1.0 and t, 20, interval=0.2,
                    what="redelivery and gauges")
    w.stop()
    assert _value(text, 'celeriac_task_redeliveries_total{queue="redo"}') == 1.0
    assert _value(text, 'celeriac_queue_ready{queue="redo"}') == 0.0
    assert _value(text, "celeriac_workers_online") == 1.0


def test_events_on_the_memory_transport(make_app: Any, worker: Any) -> None:
    app = make_app("mem", broker="memory://obs-events", result_backend="memory://obs-events",
                   worker_heartbeat_interval=0.2)

    @app.task(name="mem.add")
    def add(x: int, y: int) -> int:
        return x + y

    w = worker(app)
    r = app.send_task("mem.add", (2, 2))
    assert r.get(timeout=10) == 4
    wait_for(lambda: any(e["type"] == "worker-heartbeat" for _i, e in ev.dump(app.broker)), 10)
    w.stop()
    kinds = [e["type"] for _i, e in ev.dump(app.broker)]
    assert kinds[0] == "task-sent" or "task-sent" in kinds
    assert {"task-succeeded", "worker-online", "worker-offline"} <= set(kinds)
    assert app.broker.read_events("$", 10, 0.1) == []
    last = list(ev.dump(app.broker))[-1][0]
    app.broker.emit([{"type": "custom"}])
    assert [e["type"] for _i, e in app.broker.read_events(last, 10, 1.0)] == ["custom"]
