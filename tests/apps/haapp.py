"""Tasks of the Sentinel failover tests (tests/integration/test_sentinel_failover.py).

The broker comes from ``CELERIAC_BROKER_URL`` and ``CELERIAC_BROKER_TRANSPORT_OPTIONS``.
``mark`` appends its tag and the time to the file ``CELERIAC_TEST_MARKS``: what ran is
counted outside Redis, so a failover cannot hide it.
"""

from __future__ import annotations

import os
import time

from celeriac import Celeriac

app = Celeriac("haapp")


@app.task
def mark(tag: str) -> str:
    path = os.environ.get("CELERIAC_TEST_MARKS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{tag} {time.time():.3f}\n".encode())  # one write: lines never interleave
        finally:
            os.close(fd)
    return tag


@app.task
def collect(tags: list[str]) -> int:
    """A chord callback: records one line per execution with how many results it joined."""
    mark(f"callback-{len(tags)}-{len(set(tags))}")
    return len(set(tags))
