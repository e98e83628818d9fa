"""celeriac tasks for ``bench/sqlite_bench.py`` (worker: ``celeriac -A celeriac_app worker``).

The broker comes from ``CELERIAC_BROKER_URL`` (sqlite:// or redis://), set by the runner.
"""

from __future__ import annotations

import time

from celeriac import Celeriac

app = Celeriac("sqlitebench")


@app.task
def noop() -> float:
    """No-op whose result (the time it ran) is stored."""
    return time.time()
