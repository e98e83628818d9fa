"""The autoscaling simulation still meets its goal with the current decision function.

A change to ``decide/scaling.py`` that costs more pod-seconds than KEDA + HPA, doubles the
p95 wait or interrupts a task on any trace fails here (the run is seeded and takes ~1 s).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_simulation_goal_holds() -> None:
    spec = importlib.util.spec_from_file_location(
        "autoscale_sim", ROOT / "bench" / "autoscale_sim.py"
    )
    assert spec is not None and spec.loader is not None
    sim = importlib.util.module_from_spec(spec)
    sys.modules["autoscale_sim"] = sim  # dataclasses look their module up there
    spec.loader.exec_module(sim)
    rows = sim.run_all(1)
    assert [name for name, _, _ in rows] == list(sim.TRACES)
    for name, keda, pool in rows:
        assert pool.interrupted == 0, name
        assert pool.pod_seconds <= keda.pod_seconds, name
        assert pool.pct(0.95) <= keda.pct(0.95) / 2, name
        assert sorted(pool.waits) and len(pool.waits) == pool.tasks, name
