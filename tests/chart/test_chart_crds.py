"""The chart's CRDs are the repository's crds/, byte for byte, installed from a template.

Helm never upgrades a chart's crds/ folder (helm/helm#8668), so the chart keeps copies in
files/crds/ and renders them from templates/crds.yaml with helm.sh/resource-policy: keep
(uninstall leaves them). scripts/sync-chart-crds.sh refreshes the copies.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from chart_helpers import CHART, ROOT, by_kind, render, values

pytest.importorskip("helm_python")

SOURCE = ROOT / "crds"
COPIES = CHART / "files" / "crds"
EXPECTED = {"tasks.celeriac.dev.yaml", "schedules.celeriac.dev.yaml", "workerpools.celeriac.dev.yaml"}


def test_the_chart_copies_are_byte_identical_to_crds() -> None:
    source = {p.name: p.read_bytes() for p in SOURCE.glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in COPIES.glob("*.yaml")}
    assert set(source) == EXPECTED, f"crds/ holds {sorted(source)}"
    assert set(copies) == set(source), "run scripts/sync-chart-crds.sh"
    for name in source:
        assert copies[name] == source[name], f"{name} differs from crds/: run scripts/sync-chart-crds.sh"


def test_rendered_crds_are_the_files_plus_the_keep_policy() -> None:
    rendered = {o["metadata"]["name"]: o for o in by_kind(render(values("external-redis")),
                                                          "CustomResourceDefinition")}
    assert len(rendered) == len(EXPECTED)
    for path in SOURCE.glob("*.yaml"):
        want = copy.deepcopy(yaml.safe_load(path.read_text()))
        want["metadata"].setdefault("annotations", {})["helm.sh/resource-policy"] = "keep"
        assert rendered[want["metadata"]["name"]] == want, path.name
        assert want["spec"]["group"] == "celeriac.dev"
        assert "celeriac" in want["spec"]["names"].get("categories", [])


def test_crds_install_false_renders_none() -> None:
    assert not by_kind(render(values("crds-off")), "CustomResourceDefinition")
