"""Tasks for the WorkerPool end-to-end test: each run leaves a record of where and when it ran.

``work(seconds, tag)`` writes ``<tag>.<pod>.start`` and ``<tag>.<pod>.end`` files (each holding
the epoch time) in ``CELERIAC_TEST_MARKER_DIR``; the pod is the worker's ``POD_NAME``. The test
reads them to prove every task ran exactly once and that no pod was removed mid-task.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celeriac import Celeriac

app = Celeriac("poolapp")


def _mark(tag: str, what: str) -> None:
    root = os.environ.get("CELERIAC_TEST_MARKER_DIR")
    if root:
        pod = os.environ.get("POD_NAME", "nopod")
        Path(root, f"{tag}.{pod}.{what}.{time.monotonic_ns()}").write_text(repr(time.time()))


@app.task
def work(seconds: float, tag: str) -> str:
    _mark(tag, "start")
    time.sleep(seconds)
    _mark(tag, "end")
    return tag
