"""A real Prometheus server for tests, and the PromQL the chart ships (dashboards and alerts).

Why: a dashboard panel or an alert is code that fails silently. A misspelt metric or label
returns no data and looks like a quiet system, so the tests run every expression against a
real Prometheus that scrapes real processes. This module finds those expressions
generically (every target of every panel, rows nested or not; every rule), substitutes
Grafana's variables and interval macros, and splits an alert into the parts that must return
data (a threshold compares them with a constant, so the alert itself is rightly empty).

Prometheus comes from Debian's ``prometheus`` package (``scripts/bootstrap.sh`` installs it
with ``CELERIAC_WITH_PROMETHEUS=1``); without it the tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "celeriac"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))  #: every board the chart ships
RULES = CHART / "rules" / "alerts.yaml"  #: the alert rule file

#: What the test server puts in for Grafana's interval macros (scrapes are 1 s apart).
MACROS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "__range_s": "300",
          "__range_ms": "300000", "__interval_ms": "15000"}
_COMPARISONS = {">", "<", ">=", "<=", "==", "!=", "and", "or", "unless"}


def binary(name: str) -> str:
    """The path of ``name`` (``prometheus`` or ``promtool``): skip locally, fail in CI."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (CI must install it: CELERIAC_WITH_PROMETHEUS=1)")
        pytest.skip(f"{name} is not installed")
    return found


@dataclass(frozen=True)
class Job:
    """A scrape job of the test server."""

    name: str
    ports: Sequence[int]
    labels: Mapping[str, str]
    honor_labels: bool = False  #: keep the target's own ``namespace`` (the operator's pool metrics)


class Prometheus:
    """``prometheus`` on a free port scraping local ports every second (stop it: :meth:`close`)."""

    def __init__(self, binary_path: str, jobs: Sequence[Job], rule_files: Sequence[Path] = ()) -> None:
        self.dir = tempfile.mkdtemp(prefix="celeriac-prom-")
        self.port = free_port()
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": j.name, "honor_labels": j.honor_labels,
                 "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in j.ports], "labels": dict(j.labels)}]}
                for j in jobs],
        }
        path = os.path.join(self.dir, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        self.log = open(os.path.join(self.dir, "log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary_path, f"--config.file={path}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code not in (400, 422):  # 503 while starting: an OSError, as the caller expects
                raise
            body = json.loads(e.read())  # a bad query: the body says why
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now (raises on an invalid query)."""
        data = self.api("query", query=promql)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def value(self, promql: str) -> float | None:
        try:
            res = self.query(promql)
        except OSError:
            return None
        return float(res[0]["value"][1]) if res else None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- dashboards -------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    with open(path) as f:
        board: dict[str, Any] = json.load(f)
    return board


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a board, those nested in (collapsed) rows included, rows excluded."""
    stack = list(reversed(board.get("panels", [])))
    while stack:
        panel = stack.pop()
        stack.extend(reversed(panel.get("panels", [])))
        if panel.get("type") != "row":
            yield panel


def targets(board: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title + refId, expr)`` of every query of every panel."""
    for panel in panels(board):
        for t in panel.get("targets", []):
            if t.get("expr"):
                yield f"{panel.get('title')} [{t.get('refId')}]", str(t["expr"])


def variables(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(board.get("templating", {}).get("list", []))


def variable_query(var: Mapping[str, Any]) -> str:
    q = var.get("query")
    return str(q.get("query", "") if isinstance(q, dict) else q or "")


_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """``expr`` as Grafana sends it: macros replaced, variables set to ``values`` (default:
    the ``All`` value ``.*`` every variable of the chart's boards has)."""
    values = values or {}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in MACROS:
            return MACROS[name]
        return values.get(name, ".*")

    return _VAR.sub(repl, expr)


_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$", re.S)


def label_values_query(query: str) -> tuple[str, str]:
    """``label_values(selector, label)`` as ``(PromQL listing the label's values, label)``."""
    m = _LABEL_VALUES.match(query.strip())
    assert m, f"not a label_values() query: {query!r}"
    selector, label = m.group(1), m.group(2)
    assert selector, f"label_values() without a metric scans every series: {query!r}"
    return f"group by ({label}) ({selector})", label


# ---- rules and PromQL ---------------------------------------------------------------------


def alert_rules(path: Path = RULES) -> list[dict[str, Any]]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


#: Operator metrics, fixed by the team contract (CONTRACT.md, "Metric names"): type, labels.
OPERATOR_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "celeriac_operator_reconciles": ("counter", ("kind",)),
    "celeriac_operator_reconcile_errors": ("counter", ("kind",)),
    "celeriac_operator_status_lag_seconds": ("histogram", ()),
    "celeriac_operator_enqueue_latency_seconds": ("histogram", ()),
    "celeriac_operator_leader": ("gauge", ()),
    **{f"celeriac_pool_queue_{m}": ("gauge", ("namespace", "pool", "queue"))
       for m in ("backlog", "waiting", "in_flight", "delayed", "oldest_wait_seconds", "dead_letters")},
    **{f"celeriac_pool_{m}": ("gauge", ("namespace", "pool"))
       for m in ("replicas", "ready_replicas", "desired_replicas")},
    "celeriac_pool_scale_events": ("counter", ("namespace", "pool", "direction")),
}
#: Labels Prometheus adds to every scraped series (the chart's monitors add ``namespace``).
TARGET_LABELS = frozenset({"namespace", "job", "instance", "pod"})


def runtime_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every metric of ``celeriac.metrics`` (workers) and of the beat's collector."""
    from prometheus_client.metrics import MetricWrapperBase

    from celeriac.metrics import BeatCollector, Metrics

    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for metric in vars(Metrics()).values():
        if isinstance(metric, MetricWrapperBase):
            out[metric._name] = (metric._type, tuple(metric._labelnames))

    class _Lease:
        is_leader = False

    class _Idle:  # a BeatFigures (celeriac.metrics) of a beat that has done nothing yet
        fired = missed = 0
        lease = _Lease()

    for family in BeatCollector(_Idle()).collect():
        out[family.name] = (family.type, ())
    return out


def series_names(metrics: Mapping[str, tuple[str, tuple[str, ...]]]) -> dict[str, tuple[str, ...]]:
    """Names as stored by Prometheus (``_total``, ``_bucket``...) and the labels of each."""
    out: dict[str, tuple[str, ...]] = {}
    for name, (kind, labels) in metrics.items():
        if kind == "counter":
            out[f"{name}_total"] = labels
        elif kind == "histogram":
            out[f"{name}_bucket"] = (*labels, "le")
            out[f"{name}_sum"] = out[f"{name}_count"] = labels
        else:
            out[name] = labels
    return out


def known_series() -> dict[str, tuple[str, ...]]:
    return series_names({**runtime_metrics(), **OPERATOR_METRICS})


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """``(metric name, labels matched)`` of every selector of ``expr``."""
    import promql_parser

    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append((str(node.name or ""), {m.name for m in node.matchers.matchers}))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def grouping_labels(expr: str) -> set[str]:
    """Labels of every ``by (...)`` of ``expr`` (``without`` counts as every label: '*')."""
    import promql_parser

    labels: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            if node.modifier.type == promql_parser.AggModifierType.By:
                labels.update(node.modifier.labels)
            else:
                labels.add("*")

    promql_parser.walk(promql_parser.parse(expr), visit)
    return labels


def metric_names(expr: str) -> set[str]:
    import promql_parser

    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(str(node.name))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def source(expr: str) -> str:
    """Which process serves what ``expr`` reads: ``pool`` (the operator's WorkerPool
    handlers), ``operator`` (the operator itself) or ``runtime`` (workers and beat)."""
    names = metric_names(expr)
    if any(n.startswith("celeriac_pool_") for n in names):
        return "pool"
    if any(n.startswith("celeriac_operator_") for n in names):
        return "operator"
    return "runtime"


def data_operands(expr: str) -> list[str]:
    """The parts of ``expr`` that must return data on a healthy, working system.

    A comparison with a constant or a set operation (``and``, ``or``, ``unless``) filters its
    operands: the alert is rightly empty while they hold data, so each operand is checked on
    its own; ``absent(x)`` is checked as ``x``. Anything else is one operand.
    """
    import promql_parser

    out: list[str] = []

    def split(node: Any) -> None:
        if isinstance(node, promql_parser.ParenExpr):
            split(node.expr)
        elif isinstance(node, promql_parser.BinaryExpr) and str(node.op) in _COMPARISONS:
            for side in (node.lhs, node.rhs):
                if not isinstance(side, promql_parser.NumberLiteral):
                    split(side)
        elif isinstance(node, promql_parser.Call) and node.func.name in ("absent", "absent_over_time"):
            split(node.args[0])
        else:
            out.append(str(node))

    split(promql_parser.parse(expr))
    return out
