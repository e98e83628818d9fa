"""The beat survives a Redis crash: it logs, keeps trying, and resumes without doubling."""

from __future__ import annotations

import time
from typing import Any

import pytest

from beat_helpers import BeatThread, ticks
from celeriac.schedules import every
from helpers import wait_for

pytestmark = pytest.mark.fault


def test_beat_resumes_after_redis_restart(make_app: Any, redis_server: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("r", "tasks.r", every(0.5))
    beat = BeatThread(app)
    try:
        wait_for(lambda: len(ticks(redis_url, "r")) >= 3, timeout=20, what="first runs")
        redis_server.kill()
        time.sleep(2)
        redis_server.start()
        before = len(ticks(redis_url, "r"))
        wait_for(lambda: len(ticks(redis_url, "r")) >= before + 3, timeout=30, what="runs after the restart")
    finally:
        beat.stop()
    counts = ticks(redis_url, "r")
    assert set(counts.values()) == {1}, counts
    assert app.schedules.get("r").state.run_count == sum(counts.values())
