"""Time, rate and lifecycle: countdown/eta (timezone-aware), expires, soft and hard time
limits on every pool, rate limits per task type, max tasks/memory per prefork child.

In-process workers (threads, asyncio) for the in-thread mechanisms; real ``celeriac
worker`` processes for solo and prefork, where the limit interrupts the main thread with
a signal or replaces the child.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celeriac import states
from celeriac.errors import ConfigurationError, SoftTimeLimitExceeded, TimeLimitExceeded
from celeriac.worker.rate_limit import RateLimiter, parse_rate
from helpers import wait_for


def done(result: Any, timeout: float = 30) -> str:
    wait_for(lambda: result.state in states.READY_STATES, timeout, what=f"task {result.id} to finish")
    return str(result.state)


def started_at(result: Any) -> float:
    return float(result.app.backend.get_result(result.id).extra["date_started"])


# -- countdown, eta, expires ---------------------------------------------------------------


def test_countdown_and_aware_eta_are_not_run_early(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(name="t.when")
    def when() -> float:
        return time.time()

    worker(app)
    t0 = time.time()
    r1 = when.apply_async(countdown=1.0)
    tokyo = dt.datetime.now(ZoneInfo("Asia/Tokyo")) + dt.timedelta(seconds=1.0)
    r2 = when.apply_async(eta=tokyo)
    assert done(r1) == done(r2) == states.SUCCESS
    assert r1.get() >= t0 + 1.0 - 0.01
    assert r2.get() >= tokyo.timestamp() - 0.01


def test_naive_eta_honours_enable_utc_and_timezone(make_app: Any) -> None:
    naive = dt.datetime(2030, 1, 1, 9, 0, 0)
    utc_app = make_app(enable_utc=True)
    local_app = make_app(enable_utc=False, timezone="Asia/Tokyo")
    _, out_utc = utc_app.prepare("t.x", (), {}, {"eta": naive})
    _, out_local = local_app.prepare("t.x", (), {}, {"eta": naive})
    assert out_utc.eta == dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC).timestamp()
    assert out_local.eta == dt.datetime(2030, 1, 1, 0, tzinfo=dt.UTC).timestamp()  # 09:00 in Tokyo


def test_expired_task_is_revoked_with_reason_and_never_runs(make_app: Any, worker: Any) -> None:
    app = make_app()
    ran: list[int] = []

    @app.task(name="t.expiring")
    def expiring() -> None:
        ran.append(1)

    r = expiring.apply_async(countdown=1.0, expires=0.3)
    r2 = expiring.apply_async(expires=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    worker(app)
    assert done(r) == done(r2) == states.REVOKED
    assert app.backend.get_result(r.id).extra["reason"] == "expired"
    assert ran == []


# -- time limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_soft_time_limit_raises_inside_the_task_in_process(make_app: Any, worker: Any, pool: str) -> None:
    app = make_app()

    @app.task(name="t.soft", soft_time_limit=0.5)
    def soft() -> str:
        try:
            for _ in range(600):  # in a non-main thread the exception arrives between bytecodes
                time.sleep(0.05)
        except SoftTimeLimitExceeded:
            return "cleaned up"
        return "not interrupted"

    @app.task(name="t.fast")
    def fast() -> int:
        return 1

    worker(app, pool=pool)
    r = soft.delay()
    assert done(r) == states.SUCCESS
    assert r.get() == "cleaned up"
    assert fast.delay().get(timeout=10) == 1  # the worker goes on


def test_hard_time_limit_threads_and_worker_wide_setting(make_app: Any, worker: Any) -> None:
    app = make_app(task_time_limit=0.5)

    @app.task(name="t.stuck")
    def stuck() -> None:
        while True:
            time.sleep(0.05)

    @app.task(name="t.quick")
    def quick() -> int:
        time.sleep(0.8)  # longer than the worker-wide limit: its own limit wins
        return 2

    quick_r = quick.apply_async(time_limit=5)
    worker(app)
    r = stuck.delay()
    assert done(r) == states.FAILURE
    assert isinstance(r.result, TimeLimitExceeded)
    assert quick_r.get(timeout=10) == 2


def test_time_limits_in_the_asyncio_pool(make_app: Any, worker: Any) -> None:
    import asyncio

    app = make_app()

    @app.task(name="t.async_hard", time_limit=0.5)
    async def async_hard() -> None:
        await asyncio.sleep(60)

    @app.task(name="t.async_soft", soft_time_limit=0.5)
    async def async_soft() -> None:
        await asyncio.sleep(60)

    worker(app, pool="asyncio")
    hard, soft = async_hard.delay(), async_soft.delay()
    assert done(hard) == done(soft) == states.FAILURE
    assert isinstance(hard.result, TimeLimitExceeded)
    assert isinstance(soft.result, SoftTimeLimitExceeded)


@pytest.fixture
def gapp(redis_url: str) -> Iterator[Any]:
    """The ``tests/apps/guarantees.py`` module, its app bound to the test Redis."""
    import guarantees

    guarantees.app.conf.broker_url = redis_url
    guarantees.app.close()
    yield guarantees
    guarantees.app.close()


def test_soft_limit_interrupts_a_blocking_sleep_in_a_solo_worker_process(cli_worker: Any, tmp_path: Path,
                                                                         gapp: Any) -> None:
    soft_limited = gapp.soft_limited
    w = cli_worker("-A", "guarantees", "worker", "-P", "solo", "-l", "info",
                   env={"GUARANTEES_MARKER_DIR": str(tmp_path)})
    r = soft_limited.delay("s")
    assert r.get(timeout=30) == "cleaned up"
    w.stop()


def test_hard_limit_interrupts_a_blocking_sleep_in_a_solo_worker_process(cli_worker: Any, tmp_path: Path,
                                                                         gapp: Any) -> None:
    cli_worker("-A", "guarantees", "worker", "-P", "solo", "-l", "info", env={"GUARANTEES_MARKER_DIR": str(tmp_path)})
    before = gapp.pid.delay().get(timeout=30)
    r = gapp.hard_limited.delay("h")
    assert done(r) == states.FAILURE
    assert isinstance(r.result, TimeLimitExceeded)
    assert gapp.pid.delay().get(timeout=30) == before  # the same process goes on


def test_hard_limit_in_prefork_stops_and_replaces_the_child(cli_worker: Any, tmp_path: Path, gapp: Any) -> None:
    hard_limited, pid = gapp.hard_limited, gapp.pid

    cli_worker("-A", "guarantees", "worker", "-P", "prefork", "-c", "1", "-l", "info",
               env={"GUARANTEES_MARKER_DIR": str(tmp_path)})
    before = pid.delay().get(timeout=30)
    r = hard_limited.delay("h")
    assert done(r) == states.FAILURE
    assert isinstance(r.result, TimeLimitExceeded)
    after = pid.delay().get(timeout=30)
    assert after != before  # a new child took over


# -- rate limits ------------------------------------------------------------------------------


def test_parse_rate() -> None:
    assert parse_rate("100/s") == 100
    assert parse_rate("10/m") == pytest.approx(10 / 60)
    assert parse_rate("1000/h") == pytest.approx(1000 / 3600)
    assert parse_rate(5) == 5 and parse_rate(None) is None and parse_rate("0/s") is None
    with pytest.raises(ConfigurationError):
        parse_rate("ten/s")
    with pytest.raises(ConfigurationError):
        parse_rate("10/d")
    limiter = RateLimiter()
    assert limiter.acquire("a", "2/s") == 0.0
    assert 0 < limiter.acquire("a", "2/s") <= 0.5
    assert limiter.acquire("b", "2/s") == 0.0  # per task type


def test_rate_limited_task_waits_without_blocking_other_types(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(name="t.limited", rate_limit="5/s")
    def limited() -> float:
        return time.time()

    @app.task(name="t.free")
    def free() -> float:
        return time.time()

    limited_rs = [limited.delay() for _ in range(10)]
    free_rs = [free.delay() for _ in range(10)]
    worker(app, concurrency=2)
    starts = sorted(r.get(timeout=30) for r in limited_rs)
    free_done = max(r.get(timeout=30) for r in free_rs)
    assert starts[-1] - starts[0] >= 9 / 5 * 0.9  # 10 runs at 5/s span at least ~1.8 s
    assert free_done < starts[-1]  # the free ones did not queue behind the limited ones


# -- max tasks / memory per child --------------------------------------------------------------


@pytest.mark.parametrize(("setting", "value", "per_child"), [
    ("CELERIAC_WORKER_MAX_TASKS_PER_CHILD", "2", 2),
    ("CELERIAC_WORKER_MAX_MEMORY_PER_CHILD", "1", 1),  # 1 KiB: every child is over after one task
])
def test_prefork_child_is_replaced_after_its_limit(cli_worker: Any, gapp: Any, setting: str, value: str,
                                                   per_child: int) -> None:
    pid = gapp.pid

    cli_worker("-A", "guarantees", "worker", "-P", "prefork", "-c", "1", "-l", "info", env={setting: value})
    pids = [pid.delay().get(timeout=30) for _ in range(4)]
    runs = [len(list(group)) for group in _runs(pids)]
    assert runs == [per_child] * (4 // per_child), pids


def _runs(values: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1].append(v)
        else:
            out.append([v])
    return out
