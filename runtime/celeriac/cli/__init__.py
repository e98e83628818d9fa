"""The ``celeriac`` command line (console script ``celeriac = celeriac.cli:main``).

Why it exists: the top layer of the runtime; it wires the app, the worker and the beat to
click commands and configures logging (the library below never does). ``group`` holds the
command group, app loading and the core commands; ``beat``, ``guarantees``, ``observe`` and
``status`` hold the other commands, ``errors`` how every command fails, and ``plugins``
the commands other packages add through the ``celeriac.commands`` entry point group
(``celeriac operator``). What it must not do: import the operator, or talk to Redis.
"""

from __future__ import annotations

import os
import sys


def _gevent_wanted(argv: list[str]) -> bool:
    """``worker -P gevent`` (any spelling) or ``CELERIAC_WORKER_POOL=gevent``."""
    if "worker" not in argv and "multi" not in argv:
        return False
    for i, arg in enumerate(argv):
        if arg in ("-P", "--pool") and i + 1 < len(argv) and argv[i + 1] == "gevent":
            return True
        if arg in ("-Pgevent", "--pool=gevent"):
            return True
    return os.environ.get("CELERIAC_WORKER_POOL") == "gevent"


if _gevent_wanted(sys.argv[1:]):
    # As Celery: patch before anything else is imported, so that sockets, locks, queues and
    # sleeps of the app and its libraries cooperate (docs/celery-compat.md, "Pools").
    from gevent import monkey

    monkey.patch_all()

from celeriac.cli.group import main  # noqa: E402 (after the patch)

__all__ = ["main"]
