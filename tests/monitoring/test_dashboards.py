"""The chart's Grafana dashboards, read as data: every panel and variable is well formed,
every expression parses, names only metrics and labels that exist, and keeps labels bounded.

tests/monitoring/test_live.py runs the same expressions against a real Prometheus; this file
catches what needs no server (a typo'd metric, a label a metric does not carry, a panel bound
to a fixed data source) in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import promql_parser
import pytest

import prometheus_helpers as ph

BOARDS = {p.stem: p for p in ph.DASHBOARDS}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: What a board may group by: bounded labels only (no pod, instance or worker on task series).
BOUNDED = {"namespace", "queue", "task", "state", "le", "pool", "direction", "kind"}
#: Variables every board has (``pool`` only where WorkerPool panels are).
VARIABLES = {"overview": {"datasource", "namespace", "pool", "queue", "task"},
             "tasks": {"datasource", "namespace", "queue", "task"}}


def test_the_chart_ships_the_two_boards() -> None:
    assert set(BOARDS) == {"overview", "tasks"}
    uids = [ph.load(p)["uid"] for p in BOARDS.values()]
    assert len(set(uids)) == len(uids)


@pytest.fixture(params=sorted(BOARDS), ids=str)
def board(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return str(request.param), ph.load(BOARDS[request.param])


def test_board_metadata(board: tuple[str, dict[str, Any]]) -> None:
    _, b = board
    assert b["id"] is None, "an exported board carries no instance id"
    assert b["uid"].startswith("celeriac-") and b["title"].startswith("Celeriac / ")
    assert b["schemaVersion"] >= 36 and "celeriac" in b["tags"]
    assert b["refresh"] and b["time"]["from"].startswith("now-")


def test_variables(board: tuple[str, dict[str, Any]]) -> None:
    name, b = board
    variables = {v["name"]: v for v in ph.variables(b)}
    assert set(variables) == VARIABLES[name]
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    known = ph.known_series()
    for var in variables.values():
        if var["type"] != "query":
            continue
        assert var["datasource"] == DATASOURCE
        # "All" must match series that lack the label too (a regex, not a list of values).
        assert var["includeAll"] and var["allValue"] == ".*" and var["multi"], var["name"]
        promql, label = ph.label_values_query(ph.substitute(ph.variable_query(var)))
        for metric, _ in ph.selectors(promql):
            assert label in (*known[metric], *ph.TARGET_LABELS), (var["name"], metric)


def test_every_panel_is_bound_to_the_datasource_variable(board: tuple[str, dict[str, Any]]) -> None:
    _, b = board
    all_panels = list(ph.panels(b))
    assert all_panels
    for panel in all_panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["title"] and panel.get("description"), panel
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            assert t["datasource"] == DATASOURCE and t["expr"], (panel["title"], t)
    ids = [p["id"] for p in all_panels] + [p["id"] for p in b["panels"] if p["type"] == "row"]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def _cells(panels: list[dict[str, Any]]) -> set[tuple[int, int]]:
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    return cells


def test_panels_do_not_overlap(board: tuple[str, dict[str, Any]]) -> None:
    _, b = board
    _cells(b["panels"])
    for row in b["panels"]:
        _cells(row.get("panels", []))


def test_every_expression_parses_and_names_real_metrics_and_labels(board: tuple[str, dict[str, Any]]) -> None:
    name, b = board
    known = ph.known_series()
    defined = {v["name"] for v in ph.variables(b)}
    exprs = list(ph.targets(b))
    assert len(exprs) >= 15
    for where, raw in exprs:
        used = {m.group(1) or m.group(2) or m.group(3) for m in ph._VAR.finditer(raw)}
        assert used <= defined | set(ph.MACROS), (where, used - defined)
        expr = ph.substitute(raw)
        promql_parser.parse(expr)  # raises ValueError with the position of a syntax error
        for metric, labels in ph.selectors(expr):
            assert metric in known, f"{name}: {where}: unknown metric {metric}"
            assert labels <= {*known[metric], *ph.TARGET_LABELS}, (where, metric, labels)
        assert ph.grouping_labels(expr) <= BOUNDED, (where, ph.grouping_labels(expr))


def test_task_metrics_carry_no_per_process_label() -> None:
    """The task counters and histograms are labelled by task, queue and state only: a label per
    pod or worker would multiply series by every autoscaled replica ever started."""
    for metric, (_, labels) in ph.runtime_metrics().items():
        if metric.startswith("celeriac_task"):
            assert set(labels) <= {"task", "queue", "state"}, (metric, labels)


def test_the_boards_cover_what_the_issue_asks() -> None:
    used: set[str] = set()
    for path in BOARDS.values():
        for _, expr in ph.targets(ph.load(path)):
            used |= ph.metric_names(ph.substitute(expr))
    wanted = {
        "celeriac_tasks_total",                           # tasks per second by state, failure rate
        "celeriac_task_runtime_seconds_bucket",           # runtime p50/p95/p99
        "celeriac_queue_depth", "celeriac_queue_oldest_age_seconds",   # backlog, oldest wait
        "celeriac_pool_ready_replicas", "celeriac_pool_desired_replicas",  # autoscaler
        "celeriac_pool_scale_events_total", "celeriac_pool_queue_in_flight",
        "celeriac_workers_online", "celeriac_worker_in_flight",
        "celeriac_beat_runs_fired_total", "celeriac_beat_runs_missed_total",
        "celeriac_queue_dead_letters", "celeriac_operator_reconcile_errors_total",
    }
    assert wanted <= used, wanted - used


def test_rows_nest_panels_the_way_grafana_stores_them() -> None:
    """A collapsed row holds its panels; the walker finds them (a panel added there is checked)."""
    b = ph.load(BOARDS["overview"])
    collapsed = [r for r in b["panels"] if r["type"] == "row" and r["collapsed"]]
    assert collapsed and all(r["panels"] for r in collapsed)
    nested = {p["title"] for r in collapsed for p in r["panels"]}
    assert nested <= {p["title"] for p in ph.panels(b)}
    assert not [r for r in b["panels"] if r["type"] == "row" and not r["collapsed"] and r["panels"]]


def test_substitution() -> None:
    raw = 'rate(x{a=~"$namespace", b=~"${queue}", c=~"${task:regex}", d=~"[[pool]]"}[$__rate_interval])'
    assert ph.substitute(raw, {"queue": "q1|q2"}) == 'rate(x{a=~".*", b=~"q1|q2", c=~".*", d=~".*"}[1m])'
    assert ph.data_operands("max by (q) (x) > 600 or absent(y)") == ["max by (q)(x{})", "y{}"]


def test_paths_exist() -> None:
    assert isinstance(ph.RULES, Path) and ph.RULES.is_file()
