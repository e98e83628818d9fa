"""The schedule registry through ``app.schedules`` and a live beat, against real Redis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from beat_helpers import BeatThread, published, ticks
from celeriac.beat import ScheduleNotFound
from celeriac.schedules import crontab, every
from helpers import wait_for


def test_add_get_list_update_pause_remove(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("report", "tasks.report", crontab(minute="*/5"), args=(1, 2), kwargs={"x": 1},
                      options={"queue": "reports", "priority": 5, "expires": 60},
                      timezone="Asia/Shanghai", concurrency_policy="forbid", starting_deadline_s=30)
    got = app.schedules.get("report")
    assert got.entry.task == "tasks.report" and got.entry.args == (1, 2)
    assert got.entry.options == {"queue": "reports", "priority": 5, "expires": 60}
    assert got.entry.concurrency_policy == "forbid" and got.entry.starting_deadline_s == 30
    with pytest.raises(ValueError, match="already exists"):
        app.schedules.add("report", "tasks.report", 10)
    app.schedules.update("report", schedule="0 9 * * 1")
    assert app.schedules.get("report").entry.schedule == crontab.from_string("0 9 * * 1")
    assert app.schedules.pause("report").entry.enabled is False
    assert app.schedules.resume("report").entry.enabled is True
    assert [s.entry.name for s in app.schedules.list()] == ["report"]

    # The documented record format: plain JSON in a hash, readable by anyone.
    client = redis.Redis.from_url(redis_url)
    raw = json.loads(client.hget("celeriac:schedules", "report"))
    client.close()
    assert raw["schedule"] == {"cron": "0 9 * * 1"} and raw["timezone"] == "Asia/Shanghai"
    assert raw["options"]["queue"] == "reports" and raw["source"] == "api"

    assert app.schedules.remove("report") is True
    assert app.schedules.remove("report") is False
    with pytest.raises(ScheduleNotFound):
        app.schedules.get("report")
    with pytest.raises(ValueError, match="unknown field"):
        app.schedules.add("x", "t", 5) and app.schedules.update("x", nope=1)


def test_interval_entry_fires_each_tick_once_with_headers(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("tick", "tasks.tick", every(0.5), kwargs={"n": 1}, options={"priority": 9})
    beat = BeatThread(app)
    try:
        wait_for(lambda: sum(ticks(redis_url, "tick").values()) >= 4, timeout=20, what="4 runs")
    finally:
        beat.stop()
    counts = ticks(redis_url, "tick")
    assert set(counts.values()) == {1}, counts
    body = published(redis_url)[0]
    assert body["task"] == "tasks.tick" and body["kwargs"] == {"n": 1} and body["priority"] == 9
    state = app.schedules.get("tick").state
    assert state.run_count == beat.beat.fired == sum(counts.values())
    assert state.last_task_id == published(redis_url)[-1]["id"]


def test_changes_are_picked_up_live(make_app: Any, redis_url: str) -> None:
    app = make_app()
    beat = BeatThread(app, max_loop_interval_s=60)
    try:
        time.sleep(0.5)  # the beat sleeps (nothing registered) ...
        app.schedules.add("live", "tasks.live", every(0.5))  # ... and is woken by the change
        wait_for(lambda: ticks(redis_url, "live"), timeout=10, what="first run of a new entry")
        app.schedules.pause("live")
        time.sleep(0.3)
        paused_at = sum(ticks(redis_url, "live").values())
        time.sleep(1.5)
        assert sum(ticks(redis_url, "live").values()) == paused_at
        app.schedules.update("live", task="tasks.other", enabled=True)
        wait_for(lambda: any(b["task"] == "tasks.other" for b in published(redis_url)), timeout=10,
                 what="the changed task")
        app.schedules.remove("live")
        time.sleep(0.3)
        after_remove = len(published(redis_url))
        time.sleep(1.5)
        assert len(published(redis_url)) == after_remove
    finally:
        beat.stop()


def test_run_now_and_one_off_at(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("manual", "tasks.manual", crontab(minute=0, hour=0), enabled=False)
    result = app.schedules.run_now("manual")
    assert published(redis_url)[0]["id"] == result.id
    assert app.schedules.get("manual").state.last_task_id == result.id
    when = datetime.now(UTC) + timedelta(seconds=1)
    app.schedules.add("once", "tasks.once", when)
    beat = BeatThread(app)
    try:
        wait_for(lambda: ticks(redis_url, "once"), timeout=10, what="the one-off run")
        time.sleep(1.0)
    finally:
        beat.stop()
    assert list(ticks(redis_url, "once").values()) == [1]


def test_precision_within_100ms(make_app: Any, redis_url: str) -> None:
    """A due entry is published close to its time (measured as the beat's own lag)."""
    app = make_app()
    app.schedules.add("precise", "tasks.p", every(0.3))
    beat = BeatThread(app)
    lags = []
    try:
        for _ in range(5):
            before = beat.beat.fired
            wait_for(lambda b=before: beat.beat.fired > b, timeout=10, what="a run")
            lags.append(beat.beat.last_lag_s)
    finally:
        beat.stop()
    # The machine is shared with other test runs: assert the median, generously.
    assert sorted(lags)[len(lags) // 2] < 0.1, lags


def test_static_beat_schedule_is_synced(make_app: Any, redis_url: str) -> None:
    app = make_app(beat_schedule={
        "static-a": {"task": "tasks.a", "schedule": 30.0},
        "static-b": {"task": "tasks.b", "schedule": crontab(minute="*/5"), "args": (1,)},
    })
    written, removed = app.schedules.sync_static(app.conf.beat_schedule)
    assert sorted(written) == ["static-a", "static-b"] and removed == []
    app.schedules.pause("static-a")
    # A restart with the same config keeps the pause; dropping an entry removes it.
    written, removed = app.schedules.sync_static({"static-a": {"task": "tasks.a", "schedule": 30.0}})
    assert written == [] and removed == ["static-b"]
    assert app.schedules.get("static-a").entry.enabled is False
    app.schedules.add("api-entry", "tasks.c", 10)
    written, removed = app.schedules.sync_static({})
    assert removed == ["static-a"] and [s.entry.name for s in app.schedules.list()] == ["api-entry"]


def test_worker_runs_beat_tasks_and_events_are_emitted(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app()
    seen: list[tuple[str, str]] = []

    @app.task(bind=True)
    def beat_task(self: Any, tag: str) -> str:
        headers = self.request.headers or {}
        seen.append((headers.get("beat_schedule"), headers.get("beat_scheduled_for")))
        return tag

    app.schedules.add("work", beat_task.name, every(0.3), args=("x",), concurrency_policy="forbid")
    w = worker(app)
    beat = BeatThread(app)
    try:
        wait_for(lambda: len(seen) >= 3, timeout=20, what="3 executions")
    finally:
        beat.stop()
        w.stop()
    assert all(name == "work" and when for name, when in seen)
    assert len({when for _, when in seen}) == len(seen)
    stored = app.schedules.get("work")
    assert app.schedules.last_state(stored) in ("SUCCESS", "PENDING", "STARTED")
    client = redis.Redis.from_url(redis_url)
    try:
        types = [f[b"type"] for _id, f in client.xrange("celeriac:events") if b"type" in f]
    finally:
        client.close()
    assert types.count(b"beat-fired") == beat.beat.fired >= 3


def test_apply_spec_records_is_idempotent(make_app: Any) -> None:
    """What the operator does on each reconcile: write only when the spec changed."""
    app = make_app()
    spec = {"task": "tasks.cr", "schedule": {"cron": "*/5 * * * *"}, "timezone": "UTC",
            "options": {"queue": "q"}, "suspend": False, "concurrency_policy": "forbid"}
    assert app.schedules.apply("cr", spec) is True
    assert app.schedules.apply("cr", spec) is False
    assert app.schedules.get("cr").source == "operator"
    assert app.schedules.apply("cr", {**spec, "suspend": True}) is True
    assert app.schedules.get("cr").entry.enabled is False
    with pytest.raises(ValueError, match="'cr'"):
        app.schedules.apply("cr", {**spec, "schedule": {"cron": "nope"}})
