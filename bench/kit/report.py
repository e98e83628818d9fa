"""Medians, the celeriac/peer ratio, and the ``results.json`` / ``results.md`` files.

Why it exists: the one place that turns raw per-run figures into what people read. A
ratio is only filled when a system named ``celeriac`` ran in the same results set: for a
peer row it is ``celeriac median / peer median`` for the same scenario and figure, taken
from the celeriac pool of the same name if there is one, else from celeriac's best pool
for that figure. It must not run anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The system whose figures go in the numerator of the ratio column.
CELERIAC = "celeriac"
#: Display order of scenarios.
SCENARIO_ORDER = ("reference", "enqueue", "throughput", "mixed", "latency", "memory")


@dataclass
class Row:
    """One (system, pool, scenario, figure) aggregated over repetitions."""

    system: str
    pool: str
    scenario: str
    figure: str
    unit: str
    better: str
    values: list[float] = field(default_factory=list)
    n: int = 0
    ratio: float | None = None
    #: the celeriac pool the ratio was taken against
    ratio_pool: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = self.median
        return data


def _sort_key(row: Row) -> tuple[int, int, str, str, str]:
    scen = SCENARIO_ORDER.index(row.scenario) if row.scenario in SCENARIO_ORDER else len(SCENARIO_ORDER)
    return (scen, 0 if row.system == CELERIAC else 1, row.system, row.pool, row.figure)


def aggregate(runs: Iterable[dict[str, Any]]) -> list[Row]:
    """Group successful runs' figures and fill medians and ratios."""
    rows: dict[tuple[str, str, str, str], Row] = {}
    for run in runs:
        if not run.get("ok"):
            continue
        for fig in run.get("figures", []):
            key = (run["system"], run["pool"], fig["scenario"], fig["figure"])
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(run["system"], run["pool"], fig["scenario"], fig["figure"],
                                      fig["unit"], fig["better"])
            row.values.append(float(fig["value"]))
            row.n = max(row.n, int(fig.get("n", 0)))
    ordered = sorted(rows.values(), key=_sort_key)
    _fill_ratios(ordered)
    return ordered


def _fill_ratios(rows: Sequence[Row]) -> None:
    ours: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.system == CELERIAC:
            ours.setdefault((row.scenario, row.figure), []).append(row)
    for row in rows:
        candidates = ours.get((row.scenario, row.figure))
        if row.system == CELERIAC or not candidates or row.median == 0:
            continue
        same_pool = [c for c in candidates if c.pool == row.pool]
        if same_pool:
            pick = same_pool[0]
        else:
            best = max if row.better == "higher" else min
            pick = best(candidates, key=lambda c: c.median)
        row.ratio = pick.median / row.median
        row.ratio_pool = pick.pool


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _load(runs: Sequence[dict[str, Any]], pick: Any) -> str:
    loads = [float(r["loadavg_1m"]) for r in runs if "loadavg_1m" in r]
    return f"{pick(loads):.2f}" if loads else "?"


def markdown(meta: dict[str, Any], rows: Sequence[Row], runs: Sequence[dict[str, Any]]) -> str:
    """The results table (plus run metadata and failures) as Markdown."""
    lines = [
        "# Benchmark results",
        "",
        f"- date: {meta.get('date', '?')}",
        f"- machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), "
        f"{meta.get('memory_gib', '?')} GiB, load average at start {meta.get('loadavg', '?')}",
        f"- python {meta.get('python', '?')}, redis-server {meta.get('redis_version', '?')}",
        f"- repetitions: {meta.get('reps', '?')} (figures are medians); sizes: "
        + ", ".join(f"{k}={float(v):g}" if float(v) != int(float(v)) else f"{k}={int(float(v))}"
                    for k, v in sorted(meta.get("sizes", {}).items())),
        "- versions: " + "; ".join(f"{k}: {v}" for k, v in sorted(meta.get("versions", {}).items())),
        f"- mixed scenario ceiling: {meta.get('mixed_ideal_16_slots', '?')} tasks/s "
        "(16 slots always busy on the same seeded 1-20 ms sleeps)",
        *(["- PROFILED with py-spy: throughput figures of this run are not comparable"]
          if meta.get("profile") else []),
        "- ratio column: celeriac median / peer median (same scenario and figure; higher is "
        "better for tasks/s and ops/s, lower is better for ms and MiB)",
        f"- 1-minute load average when runs started: min {_load(runs, min)}, max {_load(runs, max)} "
        "(2 CPUs; anything far above the benchmark's own load means other work shared the machine)",
        "",
        "| system | pool | scenario | figure | median | unit | better | n | runs | celeriac/peer |",
        "|---|---|---|---|---:|---|---|---:|---:|---:|",
    ]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x ({row.ratio_pool})"
        lines.append(
            f"| {row.system} | {row.pool} | {row.scenario} | {row.figure} | {_fmt(row.median)} | "
            f"{row.unit} | {row.better} | {row.n} | {len(row.values)} | {ratio} |"
        )
    failures = [run for run in runs if not run.get("ok")]
    if failures:
        lines += ["", "## Failed runs", "", "| rep | system | pool | scenario | error |", "|---|---|---|---|---|"]
        for run in failures:
            error = str(run.get("error", "?")).replace("|", "/").replace("\n", " ")[:300]
            lines.append(f"| {run['rep']} | {run['system']} | {run['pool']} | {run['scenario']} | {error} |")
    return "\n".join(lines) + "\n"


def write(out_dir: Path, meta: dict[str, Any], runs: Sequence[dict[str, Any]]) -> list[Row]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``; return the rows."""
    rows = aggregate(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "medians": [row.as_dict() for row in rows], "runs": list(runs)}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown(meta, rows, runs))
    return rows


def load_runs(paths: Iterable[Path]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs and merged metadata from earlier ``results.json`` files (for ``--merge``)."""
    meta: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    for path in paths:
        data = json.loads(path.read_text())
        part = data.get("meta", {})
        versions = {**meta.get("versions", {}), **part.get("versions", {})}
        meta = {**part, **meta, "versions": versions}
        meta.setdefault("merged_from", []).append(str(path))
        runs.extend(data.get("runs", []))
    return meta, runs
