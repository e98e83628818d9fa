"""Concurrency policies, starting deadline, catch-up and DST through the registry.

Most tests drive ``Beat.tick()`` with a controllable clock (the lease still comes from
the real Redis, so every fire goes through the fenced commit).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from beat_helpers import BeatThread, published, ticks
from celeriac.backends.base import ResultRecord
from celeriac.beat import Beat
from celeriac.beat.scheduler import _Fenced
from celeriac.schedules import crontab, every
from helpers import wait_for


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, when: datetime) -> None:
        self.now = when.timestamp()


def leader(app: Any, clock: Clock) -> Beat:
    beat = Beat(app, clock=clock, lease_ttl_s=60, renew_s=1, sync_static=False)
    assert beat.lease.refresh()
    return beat


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_catch_up_once_after_downtime(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("minutely", "tasks.m", every(60))
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    beat = leader(app, clock)
    beat.tick()  # anchors the new entry at 12:00:00, owes nothing
    assert published(redis_url) == []
    clock.at(utc(2026, 1, 1, 12, 10, 5))  # "down" for ten minutes
    beat.tick()
    assert ticks(redis_url, "minutely") == {"2026-01-01T12:10:00.000000Z": 1}
    state = app.schedules.get("minutely").state
    assert state.missed_count == 9 and state.run_count == 1 and beat.missed == 9
    assert state.last_run == utc(2026, 1, 1, 12, 10) and state.next_run == utc(2026, 1, 1, 12, 11)
    beat.tick()  # the same instant again: nothing more
    clock.at(utc(2026, 1, 1, 12, 11, 0))
    beat.tick()
    assert sum(ticks(redis_url, "minutely").values()) == 2


def test_restarted_beat_neither_doubles_nor_skips(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("m", "tasks.m", every(60))
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    first = leader(app, clock)
    first.tick()
    clock.at(utc(2026, 1, 1, 12, 1, 0))
    first.tick()
    first.lease.release()
    second = leader(app, clock)  # a restart at the same instant: the tick is already handled
    second.tick()
    assert ticks(redis_url, "m") == {"2026-01-01T12:01:00.000000Z": 1}
    clock.at(utc(2026, 1, 1, 12, 3, 30))
    second.tick()
    assert ticks(redis_url, "m")["2026-01-01T12:03:00.000000Z"] == 1
    assert app.schedules.get("m").state.missed_count == 1  # 12:02 reported, not silently skipped


def test_starting_deadline_skips_late_runs(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("d", "tasks.d", every(60), starting_deadline_s=10)
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    beat = leader(app, clock)
    beat.tick()
    clock.at(utc(2026, 1, 1, 12, 1, 30))  # 30 s late: missed, not fired late
    beat.tick()
    assert published(redis_url) == []
    assert app.schedules.get("d").state.missed_count == 1
    clock.at(utc(2026, 1, 1, 12, 2, 5))  # 5 s late: within the deadline
    beat.tick()
    assert ticks(redis_url, "d") == {"2026-01-01T12:02:00.000000Z": 1}


def test_forbid_skips_while_previous_run_unfinished(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("f", "tasks.f", every(60), concurrency_policy="forbid")
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    beat = leader(app, clock)
    beat.tick()
    clock.at(utc(2026, 1, 1, 12, 1, 0))
    beat.tick()
    first_id = app.schedules.get("f").state.last_task_id
    assert first_id and len(published(redis_url)) == 1
    for minute in (2, 3):  # no worker: the first run stays PENDING, the next ones are skipped
        clock.at(utc(2026, 1, 1, 12, minute, 0))
        beat.tick()
    assert len(published(redis_url)) == 1
    assert app.schedules.get("f").state.missed_count == 2
    app.backend.store_result(ResultRecord(task_id=first_id, status="SUCCESS", date_done=time.time()))
    clock.at(utc(2026, 1, 1, 12, 4, 0))
    beat.tick()
    assert len(published(redis_url)) == 2


def test_replace_revokes_previous_unfinished_run(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("r", "tasks.r", every(60), concurrency_policy="replace")
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    beat = leader(app, clock)
    beat.tick()
    ids = []
    for minute in (1, 2, 3):
        clock.at(utc(2026, 1, 1, 12, minute, 0))
        beat.tick()
        ids.append(app.schedules.get("r").state.last_task_id)
    assert len(published(redis_url)) == 3
    assert app.broker.revoked(ids) == [True, True, False]


def test_dst_spring_forward_and_fall_back_through_the_registry(make_app: Any, redis_url: str) -> None:
    """'30 2 * * *' in Europe/Berlin: once at 03:00 CEST on spring-forward day, once at
    02:30 CEST (the first 02:30) on fall-back day."""
    app = make_app(timezone="Europe/Berlin")
    app.schedules.add("nightly", "tasks.n", crontab(minute=30, hour=2))
    clock = Clock(utc(2026, 3, 28, 12, 0))
    beat = leader(app, clock)
    beat.tick()
    for start, end in ((utc(2026, 3, 28, 12, 0), utc(2026, 3, 30, 12, 0)),
                       (utc(2026, 10, 24, 12, 0), utc(2026, 10, 26, 12, 0))):
        clock.at(start)
        beat.tick()
        t = start.timestamp()
        while t <= end.timestamp():  # every 5 minutes through both days
            clock.now = t
            beat.tick()
            t += 300
    counts = ticks(redis_url, "nightly")
    assert set(counts.values()) == {1}, counts
    assert sorted(counts) == [
        "2026-03-29T01:00:00.000000Z",  # 02:30 does not exist: 03:00 CEST, once
        "2026-03-30T00:30:00.000000Z",  # 02:30 CEST
        "2026-10-24T00:30:00.000000Z",  # catch-up (once) for the months in between
        "2026-10-25T00:30:00.000000Z",  # 02:30 happens twice: the first (CEST) only
        "2026-10-26T01:30:00.000000Z",  # 02:30 CET
    ]


def test_stale_token_cannot_fire(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("s", "tasks.s", every(60))
    holder_a = app.broker.beat_acquire("a", 0.2)
    assert holder_a is not None
    time.sleep(0.4)  # a's lease expires (a is "paused"), b takes over
    holder_b = app.broker.beat_acquire("b", 30)
    assert holder_b is not None and holder_b > holder_a
    assert app.broker.beat_renew("a", holder_a, 30) is False
    code = app.broker.schedule_commit("s", fence=("a", holder_a), expect_state=None, new_state="{}")
    assert code == -1
    assert app.broker.schedule_commit("s", fence=("b", holder_b), expect_state=None, new_state="{}") == 1
    # A second commit based on the same (now outdated) state is refused: one fire per tick.
    assert app.broker.schedule_commit("s", fence=("b", holder_b), expect_state=None, new_state="{}") == 0


def test_two_beats_in_process_fire_each_tick_once(make_app: Any, redis_url: str) -> None:
    app_a, app_b = make_app("a"), make_app("b")
    app_a.schedules.add("fast", "tasks.fast", every(0.25))
    a, b = BeatThread(app_a), BeatThread(app_b)
    try:
        wait_for(lambda: sum(ticks(redis_url, "fast").values()) >= 12, timeout=30, what="12 runs")
    finally:
        a.stop()
        b.stop()
    counts = ticks(redis_url, "fast")
    assert set(counts.values()) == {1}, counts
    assert (a.beat.fired == 0) != (b.beat.fired == 0)  # one leader did it all


def test_stale_leader_tick_is_fenced(make_app: Any, redis_url: str) -> None:
    """A leader whose lease was taken over while it was paused decides to fire, and the
    broker refuses: nothing is published, and it steps down."""
    app = make_app()
    app.schedules.add("e", "tasks.e", every(60))
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    old = leader(app, clock)
    old.tick()
    client = redis.Redis.from_url(redis_url)
    client.delete("celeriac:beat:lease")  # the lease ran out while `old` was frozen ...
    client.close()
    new = leader(make_app("other"), clock)  # ... and another replica took it
    assert new.lease.token is not None and old.lease.token is not None
    assert new.lease.token > old.lease.token
    clock.at(utc(2026, 1, 1, 12, 1, 0))
    assert old.lease.is_leader  # it still believes it leads
    with pytest.raises(_Fenced):
        old.tick()
    assert published(redis_url) == [] and old.lease.token is None
    new.tick()
    assert ticks(redis_url, "e") == {"2026-01-01T12:01:00.000000Z": 1}


def test_catch_up_all_fires_every_missed_tick_once(make_app: Any, redis_url: str) -> None:
    app = make_app()
    app.schedules.add("all", "tasks.all", every(60), catch_up="all")
    clock = Clock(utc(2026, 1, 1, 12, 0, 0))
    beat = leader(app, clock)
    beat.tick()
    clock.at(utc(2026, 1, 1, 12, 5, 30))
    while beat.tick() <= clock():  # the loop calls again at once while ticks are owed
        pass
    assert ticks(redis_url, "all") == {f"2026-01-01T12:0{m}:00.000000Z": 1 for m in range(1, 6)}
    assert app.schedules.get("all").state.missed_count == 0
