"""huey tasks for ``bench/sqlite_bench.py`` (consumer: ``huey_consumer huey_app.huey``).

``SqliteHuey`` on the file named by ``HUEY_SQLITE_PATH``. huey stores a result only when
the task returns something other than None: ``noop`` returns the time it ran (stored).
"""

from __future__ import annotations

import os
import time

from huey import SqliteHuey

huey = SqliteHuey("sqlitebench", filename=os.environ["HUEY_SQLITE_PATH"])


@huey.task()
def noop() -> float:
    """No-op whose result (the time it ran) is stored."""
    return time.time()
