"""Tasks for the execution-guarantee tests that run real ``celeriac worker`` processes.

Every task records each execution as a marker file ``<tag>.<pid>.<ns>`` in
``GUARANTEES_MARKER_DIR`` (files, not Redis: the Redis fault test kills the server while
tasks run), so tests count executions exactly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celeriac import Celeriac
from celeriac.errors import SoftTimeLimitExceeded

app = Celeriac("guarantees")


def mark(tag: str, suffix: str = "") -> None:
    folder = os.environ.get("GUARANTEES_MARKER_DIR")
    if folder:
        Path(folder, f"{tag}{suffix}.{os.getpid()}.{time.monotonic_ns()}").touch()


def count(folder: str | os.PathLike[str], tag: str, suffix: str = "") -> int:
    """Executions of ``tag`` recorded in ``folder``."""
    name = f"{tag}{suffix}"
    return sum(1 for p in Path(folder).iterdir() if p.is_file() and p.name.rsplit(".", 2)[0] == name)


@app.task
def record(tag: str, seconds: float = 0.0) -> str:
    """Mark a start, sleep, mark the end."""
    mark(tag)
    time.sleep(seconds)
    mark(tag, ".done")
    return tag


@app.task
def poison(tag: str, flag: str) -> str:
    """Kill its own process while the file ``flag`` exists."""
    mark(tag)
    if os.path.exists(flag):
        os._exit(1)
    return tag


@app.task
def pid() -> int:
    return os.getpid()


@app.task(soft_time_limit=1.0)
def soft_limited(tag: str) -> str:
    mark(tag)
    try:
        time.sleep(60)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "not interrupted"


@app.task(time_limit=1.0)
def hard_limited(tag: str) -> str:
    mark(tag)
    time.sleep(60)
    return "not stopped"
