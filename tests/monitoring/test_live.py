"""Every dashboard panel and every alert of the chart, run against a real Prometheus that
scrapes real processes: a prefork worker, a beat and the operator with a WorkerPool in the
Kubernetes API emulator.

After a workload with successes, failures, a retry, a redelivery, a dead letter and a
delayed message, each expression must be accepted by Prometheus and return data (alerts:
each operand of their thresholds, see ``prometheus_helpers.data_operands``), each board
variable must list values, and Prometheus must load and evaluate the rule file. Panels are
found generically, so a panel added later is checked too.

Two stacks: without the operator (workers and beat only, a real deployment without
Kubernetes) the runtime panels must have data and the operator's must still be valid
queries; with the operator (in the API emulator, with a Task, a mistyped Schedule and a
WorkerPool that gets one message) its panels and the ``celeriac_pool_*`` ones must have
data too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import prometheus_helpers as ph
from helpers import free_port, wait_for

NAMESPACE = "celeriac-test"  #: the namespace label the scrape config gives every target
POOL = "mon"  #: the WorkerPool the operator watches
POOL_QUEUE = "mon.pool"  #: its queue (no worker of the test consumes it)
ROOT = ph.ROOT
APPS = ROOT / "tests" / "apps"


@pytest.fixture
def prometheus() -> Iterator[Callable[..., ph.Prometheus]]:
    path = ph.binary("prometheus")
    started: list[ph.Prometheus] = []

    def start(jobs: list[ph.Job]) -> ph.Prometheus:
        p = ph.Prometheus(path, jobs, rule_files=[ph.RULES])
        started.append(p)
        wait_for(p.ready, 30, interval=0.2, what="prometheus /-/ready")
        return p

    yield start
    for p in started:
        p.close()


def _operator_missing() -> str | None:
    """Why the operator cannot run here yet (None: it can)."""
    if importlib.util.find_spec("kopf") is None:
        if os.environ.get("CI"):
            pytest.fail("kopf is not installed (CI must install the operator extra)")
        return "kopf is not installed (pip install -e '.[operator]')"
    return None


def _runtime(make_app: Any, cli_worker: Any, worker_port: int, beat_port: int) -> None:
    """A prefork worker and a beat serving metrics on these ports, and the workload."""
    app = make_app("monitorapp")
    # A redelivery: a consumer that "died" held this message before the worker starts.
    app.send_task("mon.add", (1, 1), queue="redo")
    app.broker.ensure_queues(["redo"])
    (held,) = app.broker.fetch(["redo"], "dead-consumer", 1, 1.0)
    app.broker.requeue([held], count_delivery=True)
    cli_worker("-A", "monitorapp", "worker", "-P", "prefork", "-c", "2", "-Q", "default,redo",
               "--metrics-port", str(worker_port), env={"CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5"})
    cli_worker("-A", "monitorapp", "beat", "--metrics-port", str(beat_port), "--lease-ttl", "2",
               "--renew-interval", "0.5")
    ok = [app.send_task("mon.add", (i, i)) for i in range(20)]
    bad = [app.send_task("mon.fail") for _ in range(4)]
    flaky = app.send_task("mon.flaky")
    unknown = app.send_task("mon.not-registered")  # dead-lettered: no such task
    app.send_task("mon.add", (1, 1), countdown=3600)  # stays delayed
    for r in ok:
        r.get(timeout=60)
    for r in [*bad, unknown]:
        r.get(timeout=60, propagate=False)
    assert flaky.get(timeout=60) == "ok"


def _operator(request: pytest.FixtureRequest, cli_worker: Any, redis_url: str, port: int,
              prom: ph.Prometheus) -> None:
    """The operator in the API emulator, serving metrics on ``port``, with a Task, then a
    mistyped Schedule (a real reconcile error) and, once the handlers exist, an idle
    WorkerPool that gets a message (a real scale-up). The error and the scale-up happen after
    ``prom`` has scraped their counters at 0, as a long-running operator's would be."""
    kube = request.getfixturevalue("kube_api")
    kube.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    meta = {"namespace": NAMESPACE}
    kube.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "Task", "metadata": {"name": "add", **meta},
                 "spec": {"task": "mon.add", "args": [2, 3]}})
    # At zero replicas (its queue is empty) until the test sends it a message.
    kube.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "WorkerPool",
                 "metadata": {"name": POOL, **meta},
                 "spec": {"app": "monitorapp", "queues": [POOL_QUEUE],
                          "autoscaling": {"minReplicas": 0, "maxReplicas": 3, "pollIntervalSeconds": 1}}})
    args = ["--namespace", NAMESPACE, "--metrics-port", str(port), "--lease-duration", "3"]
    pythonpath = os.pathsep.join([str(APPS), str(ROOT / "runtime"), str(ROOT / "operator")])
    env = {"PYTHONPATH": pythonpath, "KUBECONFIG": str(kube.kubeconfig), "CELERIAC_BROKER_URL": redis_url}
    cli_worker("operator", *args, env=env)  # `celeriac operator`, as the image runs it
    errors = 'celeriac_operator_reconcile_errors_total{kind="Schedule"}'
    wait_for(lambda: prom.value(errors) == 0.0, 60, interval=0.3, what=f"{errors} scraped at 0")
    kube.create({"apiVersion": "celeriac.dev/v1alpha1", "kind": "Schedule",
                 "metadata": {"name": "typo", **meta},
                 "spec": {"task": "mon.tick", "every": "1h", "timeZone": "Mars/Olympus_Mons"}})
    # Work for the idle pool: the autoscaler scales it up (a scale event).
    ups = f'celeriac_pool_scale_events_total{{namespace="{NAMESPACE}",pool="{POOL}",direction="up"}}'
    wait_for(lambda: prom.value(ups) == 0.0, 60, interval=0.3, what=f"{ups} scraped at 0")
    request.getfixturevalue("make_app")("monitorapp").send_task("mon.add", (1, 1), queue=POOL_QUEUE)


def _expressions() -> list[tuple[str, str]]:
    """``(where, PromQL)`` of every panel target (substituted) and every alert operand."""
    out = [(f"{path.stem}: {where}", ph.substitute(expr))
           for path in ph.DASHBOARDS for where, expr in ph.targets(ph.load(path))]
    for rule in ph.alert_rules():
        out += [(f"alert {rule['alert']}: {part}", part) for part in ph.data_operands(rule["expr"])]
    return out


def _variables() -> list[tuple[str, str, str]]:
    out = []
    for path in ph.DASHBOARDS:
        for var in ph.variables(ph.load(path)):
            if var["type"] == "query":
                promql, label = ph.label_values_query(ph.substitute(ph.variable_query(var)))
                out.append((f"{path.stem}: ${var['name']}", promql, label))
    return out


def _without_data(prom: ph.Prometheus, sources: set[str]) -> list[str]:
    """What returns nothing yet among what ``sources`` serve (an invalid query raises)."""
    missing = []
    for where, expr in _expressions():
        if not prom.query(expr) and ph.source(expr) in sources:
            missing.append(where)
    for where, promql, label in _variables():
        res = prom.query(promql)
        if not any(r["metric"].get(label) for r in res) and ph.source(promql) in sources:
            missing.append(where)
    return missing


def _active_alerts(prom: ph.Prometheus) -> dict[str, list[dict[str, str]]]:
    """Pending or firing alerts: name -> label sets."""
    out: dict[str, list[dict[str, str]]] = {}
    for alert in prom.api("alerts")["alerts"]:
        out.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    return out


def _rules_evaluated(prom: ph.Prometheus) -> list[dict[str, Any]] | None:
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    return rules if rules and all(r.get("health") == "ok" for r in rules) else None


@pytest.mark.parametrize("with_operator", [False, True], ids=["workers-and-beat", "with-operator"])
def test_every_panel_and_alert_returns_data(with_operator: bool, request: pytest.FixtureRequest,
                                            make_app: Any, cli_worker: Any, redis_url: str,
                                            prometheus: Any) -> None:
    if with_operator and (reason := _operator_missing()):
        pytest.skip(f"operator part not runnable yet: {reason}")
    worker_port, beat_port, operator_port = free_port(), free_port(), free_port()
    labels = {"namespace": NAMESPACE}
    jobs = [ph.Job("worker", [worker_port], labels), ph.Job("beat", [beat_port], labels)]
    if with_operator:  # pool series carry their own namespace: honor_labels, as the chart sets it
        jobs.append(ph.Job("operator", [operator_port], labels, honor_labels=True))
    prom = prometheus(jobs)  # scraping before the processes start, as in a cluster
    _runtime(make_app, cli_worker, worker_port, beat_port)
    if with_operator:
        _operator(request, cli_worker, redis_url, operator_port, prom)
    sources = {"runtime"}
    if with_operator:
        sources |= {"operator", "pool"}
    # Counters need two scrapes for rate(); the collector refreshes queue gauges per heartbeat.
    last: list[list[str]] = []

    def settled() -> bool:
        last[:] = [_without_data(prom, sources)]
        return not last[0]

    try:
        wait_for(settled, 45, interval=1.0, what="data for every expression")
    except AssertionError:
        pytest.fail("no data from Prometheus for:\n  " + "\n  ".join(last[0]))
    rules = wait_for(lambda: _rules_evaluated(prom), 30, interval=0.5, what="rules evaluated")
    assert {r["name"] for r in rules if r["type"] == "alerting"} == {r["alert"] for r in ph.alert_rules()}
    # The alerts on live data: the beat fires (quiet); without the operator scraped its absence
    # is pending; with it, the mistyped Schedule's reconcile error is, and so is the idle pool
    # that got work and has no ready pod (the emulator runs none).
    if not with_operator:
        wait_for(lambda: "CeleriacOperatorDown" in _active_alerts(prom), 30, interval=0.5,
                 what="CeleriacOperatorDown pending with no operator scraped")
    else:  # the mistyped Schedule's error
        wait_for(lambda: any(a.get("kind") == "Schedule" for a in
                             _active_alerts(prom).get("CeleriacOperatorReconcileErrors", [])),
                 30, interval=0.5, what="CeleriacOperatorReconcileErrors pending for Schedule")
    if with_operator:
        wait_for(lambda: any(a.get("pool") == POOL for a in
                             _active_alerts(prom).get("CeleriacBacklogWithoutReadyWorkers", [])),
                 30, interval=0.5, what="CeleriacBacklogWithoutReadyWorkers pending for the pool")
    # Quiet (a beat or operator not yet leading right after its start made them pending).
    quiet = {"CeleriacBeatNotFiring", *(["CeleriacOperatorDown"] if with_operator else [])}
    wait_for(lambda: not quiet & set(_active_alerts(prom)), 15, interval=0.5, what=f"{quiet} quiet")
    # Documented figures of the workload, read through the boards' own kind of query.
    sel = f'namespace="{NAMESPACE}"'
    assert prom.value(f'sum(celeriac_tasks_total{{{sel}, task="mon.fail", state="FAILURE"}})') == 4.0
    assert prom.value(f'sum(celeriac_tasks_total{{{sel}, task="mon.add", state="SUCCESS"}})') == 21.0 + with_operator
    assert prom.value(f"sum(max by (queue) (celeriac_queue_dead_letters{{{sel}}}))") == 1.0
    assert prom.value(f'max(celeriac_queue_delayed{{{sel}, queue="default"}})') == 1.0
    assert prom.value(f"sum(celeriac_task_redeliveries_total{{{sel}}})") == 1.0
    assert prom.value(f"sum(celeriac_beat_leader{{{sel}}})") == 1.0
    if with_operator:  # the Task was enqueued, the mistyped Schedule failed to reconcile
        assert prom.value(f"sum(celeriac_operator_leader{{{sel}}})") == 1.0
        assert prom.value('sum(celeriac_operator_enqueue_latency_seconds_count)') == 1.0
        # The first error shows in the panel's and the alert's increase()/rate().
        errors = 'increase(celeriac_operator_reconcile_errors_total{kind="Schedule"}[5m])'
        assert wait_for(lambda: (prom.value(errors) or 0) > 0, 30, interval=0.5, what=errors)
    if with_operator:  # the idle pool scaled up for its one message
        pool = f'namespace="{NAMESPACE}", pool="{POOL}"'
        assert prom.value(f'sum(celeriac_pool_scale_events_total{{{pool}, direction="up"}})') == 1.0
        ups = f'sum(increase(celeriac_pool_scale_events_total{{{pool}, direction="up"}}[5m]))'
        assert (prom.value(ups) or 0) > 0, "the scale event shows in the Scale events panel"
        assert prom.value(f"sum(celeriac_pool_desired_replicas{{{pool}}})") == 1.0
        assert prom.value(f"sum(celeriac_pool_queue_backlog{{{pool}}})") == 1.0
