"""A real Prometheus server scrapes a real prefork worker; the documented PromQL of
docs/metrics.md returns the expected series and values after a known workload."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import prometheus_helpers as ph
from helpers import free_port, wait_for


@pytest.fixture
def prometheus() -> Iterator[Any]:
    binary = ph.binary("prometheus")
    started: list[ph.Prometheus] = []

    def start(target_port: int) -> ph.Prometheus:
        p = ph.Prometheus(binary, [ph.Job("celeriac", [target_port], {})])
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def test_prometheus_scrapes_a_prefork_worker(make_app: Any, cli_worker: Any, prometheus: Any) -> None:
    port = free_port()
    w = cli_worker("-A", "observeapp", "worker", "-P", "prefork", "-c", "2", "--metrics-port", str(port),
                   env={"CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5"})
    wait_for(lambda: _try(lambda: _scrape(port)), 30, interval=0.2, what="worker /metrics")
    prom = prometheus(port)
    app = make_app("observeapp")
    ok = [app.send_task("obs.add", (i, i)) for i in range(20)]
    bad = [app.send_task("obs.fail") for _ in range(3)]
    for r in ok:
        r.get(timeout=30)
    for r in bad:
        r.get(timeout=30, propagate=False)
    app.send_task("obs.add", (1, 1), countdown=3600)  # one delayed message
    # The documented queries (docs/metrics.md):
    q_ok = 'sum(celeriac_tasks_total{task="obs.add",state="SUCCESS"})'
    q_fail = 'sum(celeriac_tasks_total{task="obs.fail",state="FAILURE"})'
    assert wait_for(lambda: prom.value(q_ok) == 20.0, 60, interval=0.5, what=q_ok)
    assert prom.value(q_fail) == 3.0
    q_runtime = 'sum(celeriac_task_runtime_seconds_count{task="obs.add"})'
    assert prom.value(q_runtime) == 20.0
    assert prom.value('sum(celeriac_task_queue_latency_seconds_count{queue="default"})') == 23.0
    q_p50 = 'histogram_quantile(0.5, sum by (le) (rate(celeriac_task_runtime_seconds_bucket[1m])))'
    assert wait_for(lambda: prom.value(q_p50) is not None, 30, interval=0.5, what=q_p50)
    assert wait_for(lambda: prom.value('max by (queue) (celeriac_queue_delayed{queue="default"})') == 1.0,
                    30, interval=0.5, what="delayed gauge")
    assert prom.value('max by (queue) (celeriac_queue_ready{queue="default"})') == 0.0
    assert wait_for(lambda: prom.value("max(celeriac_workers_online)") == 1.0, 30, interval=0.5)
    assert prom.value("sum by (worker) (celeriac_worker_concurrency)") == 2.0
    assert prom.value("sum(celeriac_worker_in_flight)") is not None
    # Both children counted: the supervisor aggregates them (multiprocess mode).
    processed = wait_for(lambda: prom.value("sum(celeriac_worker_processed)") == 23.0, 30, interval=0.5)
    assert processed
    w.stop()


def _try(fn: Any) -> Any:
    try:
        return fn()
    except OSError:
        return None


def test_threads_worker_metrics_in_process(make_app: Any, worker: Any) -> None:
    port = free_port()
    app = make_app("m", worker_metrics_port=port, worker_heartbeat_interval=0.2)

    @app.task(name="m.retry", bind=True, max_retries=1, default_retry_delay=0)
    def flaky(self: Any) -> str:
        if self.request.retries == 0:
            raise self.retry()
        return "ok"

    w = worker(app)
    assert app.send_task("m.retry").get(timeout=20) == "ok"
    series = 'celeriac_tasks_total{queue="default",state="SUCCESS",task="m.retry"}'
    # task metrics are written within METRICS_FLUSH_S or at the next heartbeat
    text = wait_for(lambda: (t := _try(lambda: _scrape(port))) and series in t and t, 10, what=series)
    w.stop()
    assert 'celeriac_tasks_total{queue="default",state="RETRY",task="m.retry"}' in text
    assert 'celeriac_tasks_total{queue="default",state="SUCCESS",task="m.retry"}' in text
    assert 'celeriac_task_retries_total{queue="default",task="m.retry"}' in text
    assert "celeriac_queue_depth" in text and "celeriac_worker_concurrency" in text
