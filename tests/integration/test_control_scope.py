"""The control channel is scoped to its broker: two apps on two databases of one real
redis-server, and ``shutdown``/``ping``/``revoke`` sent through one never reach the
other's worker (Redis pub/sub ignores the database number; the channel name does not).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from celeriac import Celeriac, states
from helpers import wait_for


def _db_url(redis_url: str, db: int) -> str:
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"


@pytest.fixture
def two_apps(redis_url: str) -> Iterator[tuple[Celeriac, Celeriac]]:
    a = Celeriac("scope-a", broker=_db_url(redis_url, 10), set_as_current=False)
    b = Celeriac("scope-b", broker=_db_url(redis_url, 11), set_as_current=False)
    yield a, b  # the redis_url fixture flushes every database before the next test
    for app in (a, b):
        app.close()


def _pinged(app: Celeriac) -> set[str]:
    return {host for answer in app.control.ping(timeout=1.0) for host in answer}


def test_ping_revoke_and_shutdown_stay_on_their_own_database(two_apps: tuple[Celeriac, Celeriac],
                                                             cli_worker: Any, redis_url: str) -> None:
    a, b = two_apps
    wa = cli_worker("-A", "basic", "worker", "-P", "threads", "-c", "2", "-n", "a@scope",
                    env={"CELERIAC_BROKER_URL": a.broker_url})
    wb = cli_worker("-A", "basic", "worker", "-P", "threads", "-c", "2", "-n", "b@scope",
                    env={"CELERIAC_BROKER_URL": b.broker_url})
    assert wait_for(lambda: _pinged(a) == {"a@scope"}, timeout=30)
    assert wait_for(lambda: _pinged(b) == {"b@scope"}, timeout=30)
    assert _pinged(a) == {"a@scope"} and _pinged(b) == {"b@scope"}

    # A task running on b's worker, revoked (with terminate) through a: b never hears of it.
    running = b.send_task("basic.sleep", (1.5, "kept"), task_id="scope-task")
    assert wait_for(lambda: running.state == states.STARTED or running.ready(), timeout=30)
    a.control.revoke("scope-task", terminate=True)
    assert running.get(timeout=30) == "kept"
    assert running.state == states.SUCCESS
    assert b.broker.revoked(["scope-task"]) == [False]

    # shutdown through a stops a's worker only.
    a.control.shutdown()
    assert wa.wait(40) == 0
    time.sleep(0.5)  # long enough for a stray command to have arrived
    assert wb.proc.poll() is None
    assert _pinged(b) == {"b@scope"}
    assert b.send_task("basic.add", (2, 3)).get(timeout=30) == 5
