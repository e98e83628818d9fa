"""An app for ``celeriac beat`` subprocess tests: 1-second entries in ``beat_schedule``.

The broker comes from ``CELERIAC_BROKER_URL`` (set by the ``cli_worker`` fixture).
"""

from __future__ import annotations

from celeriac import Celeriac

app = Celeriac("beatapp")
app.conf.beat_schedule = {
    "every-second": {"task": "beatapp.noop", "schedule": 1.0},
    "every-second-cron": {"task": "beatapp.noop", "schedule": "* * * * *", "args": ("minutely",)},
}


@app.task
def noop(tag: str = "") -> str:
    return tag
