"""The chart's alert rules: ``promtool check rules`` accepts them, ``promtool test rules``
runs their unit tests (tests/monitoring/alerts_test.yaml), and each alert is well formed
(severity, summary, description) and has a test where it fires and one where it stays quiet.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

import prometheus_helpers as ph

HERE = Path(__file__).resolve().parent
UNIT_TESTS = HERE / "alerts_test.yaml"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    return ph.binary("promtool")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_rules(promtool: str) -> None:
    r = _run(promtool, "check", "rules", str(ph.RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(ph.alert_rules())} rules found" in r.stdout


def test_promtool_unit_tests(promtool: str) -> None:
    r = _run(promtool, "test", "rules", UNIT_TESTS.name, cwd=HERE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_is_documented_and_labelled() -> None:
    rules = ph.alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert set(names) >= {"CeleriacTaskFailureRateHigh", "CeleriacBacklogWithoutReadyWorkers",
                          "CeleriacQueueOldestMessageTooOld", "CeleriacDeadLettersGrowing",
                          "CeleriacBeatNotFiring", "CeleriacOperatorDown"}
    known = ph.known_series()
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        promql_parser.parse(rule["expr"])
        for metric, labels in ph.selectors(rule["expr"]):
            assert metric in known, (rule["alert"], metric)
            assert labels <= {*known[metric], *ph.TARGET_LABELS}, (rule["alert"], metric, labels)
        # Alerts keep the labels a reader routes on, never one per process.
        assert ph.grouping_labels(rule["expr"]) <= {"namespace", "queue", "task", "pool", "kind"}, rule["alert"]


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    with open(UNIT_TESTS) as f:
        doc: dict[str, Any] = yaml.safe_load(f)
    fires: set[str] = set()
    quiet: set[str] = set()
    for group in doc["tests"]:
        for case in group.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {r["alert"] for r in ph.alert_rules()}
    assert names <= fires, f"no test where these fire: {names - fires}"
    assert names <= quiet, f"no test where these stay quiet: {names - quiet}"
    # The scale-to-zero scenario checks every alert that reads pool or queue figures.
    zero = next(g for g in doc["tests"] if g["name"] == "pool to zero and back")
    checked = {c["alertname"] for c in zero["alert_rule_test"]}
    assert checked >= names - {"CeleriacBeatMissedRuns", "CeleriacOperatorReconcileErrors"}
