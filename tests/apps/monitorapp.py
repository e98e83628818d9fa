"""An app for the monitoring test (tests/monitoring/test_live.py): a prefork worker and a
beat run it as subprocesses so that every dashboard panel and alert has data to read.

Tasks that succeed, fail, and retry once; a beat entry firing every second.
The broker comes from ``CELERIAC_BROKER_URL`` (set by the ``cli_worker`` fixture).
"""

from __future__ import annotations

from typing import Any

from celeriac import Celeriac

app = Celeriac("monitorapp")
app.conf.beat_schedule = {"tick": {"task": "mon.tick", "schedule": 1.0}}


@app.task(name="mon.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="mon.fail")
def fail() -> None:
    raise ValueError("boom")


@app.task(name="mon.flaky", bind=True, max_retries=1, default_retry_delay=0)
def flaky(self: Any) -> str:
    if self.request.retries == 0:
        raise self.retry()
    return "ok"


@app.task(name="mon.tick")
def tick() -> None:
    return None
