"""The beat on the embedded transports (``memory://``, ``sqlite://``): same registry,
lease and fenced commit, checked by counting the published messages."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from beat_helpers import BeatThread
from celeriac import Celeriac
from celeriac.schedules import every
from helpers import wait_for


def drain(app: Any, seen: Counter[str]) -> int:
    for d in app.broker.fetch(["default"], "test", 100, 0):
        headers = json.loads(d.body).get("headers") or {}
        seen[headers.get("beat_scheduled_for", "?")] += 1
    return sum(seen.values())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_two_beats_fire_each_tick_once(kind: str, tmp_path: Path) -> None:
    url = "memory://beat-test" if kind == "memory" else f"sqlite:///{tmp_path / 'beat.db'}"
    apps = [Celeriac(f"b{i}", broker=url, set_as_current=False) for i in range(3)]
    try:
        apps[0].schedules.add("fast", "tasks.fast", every(0.3))
        beats = [BeatThread(apps[0]), BeatThread(apps[1])]
        seen: Counter[str] = Counter()
        try:
            wait_for(lambda: drain(apps[2], seen) >= 6, timeout=30, what="6 runs")
        finally:
            for b in beats:
                b.stop()
        drain(apps[2], seen)
        assert set(seen.values()) == {1}, seen
        assert apps[2].schedules.get("fast").state.run_count == sum(seen.values())
    finally:
        for app in apps:
            app.close()
