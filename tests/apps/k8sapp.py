"""Tasks the operator tests run through Task and Schedule objects (tests/operator).

The broker comes from ``CELERIAC_BROKER_URL``. Every run of ``mark`` and ``sleep_mark``
leaves a file named after its task id in ``CELERIAC_TEST_MARKER_DIR``, so a test counts
runs per task id (files, never log lines).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celeriac import Celeriac

app = Celeriac("k8sapp")
app.conf.task_track_started = True


def _mark(task_id: str | None) -> None:
    marker = os.environ.get("CELERIAC_TEST_MARKER_DIR")
    if marker and task_id:
        with open(os.path.join(marker, f"{task_id}.{os.getpid()}.{time.monotonic_ns()}"), "w"):
            pass


@app.task(name="k8s.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="k8s.fail")
def fail(message: str) -> None:
    raise ValueError(message)


@app.task(name="k8s.sleep_add", bind=True)
def sleep_add(self: Any, x: int, y: int, delay: float = 1.0) -> int:
    _mark(self.request.id)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:  # short sleeps: a threads-pool terminate lands between them
        time.sleep(0.02)
    return x + y


@app.task(name="k8s.mark", bind=True)
def mark(self: Any, value: Any = None) -> Any:
    _mark(self.request.id)
    return value


@app.task(name="k8s.progress", bind=True)
def progress(self: Any, steps: int, delay: float = 0.2) -> int:
    for i in range(steps):
        self.update_state(state="PROGRESS", meta={"done": i, "of": steps})
        time.sleep(delay)
    return steps
