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


def _green_pool(argv: list[str]) -> str | None:
    """``gevent`` or ``eventlet`` for ``worker -P gevent|eventlet`` (any spelling) or
    ``CELERIAC_WORKER_POOL=gevent|eventlet``; None otherwise."""
    if "worker" not in argv and "multi" not in argv:
        return None
    for i, arg in enumerate(argv):
        for pool in ("gevent", "eventlet"):
            if arg in ("-P", "--pool") and i + 1 < len(argv) and argv[i + 1] == pool:
                return pool
            if arg in (f"-P{pool}", f"--pool={pool}"):
                return pool
    env = os.environ.get("CELERIAC_WORKER_POOL")
    return env if env in ("gevent", "eventlet") else None


_GREEN = _green_pool(sys.argv[1:])
if _GREEN == "gevent":
    # As Celery: patch before anything else is imported, so that sockets, locks, queues and
    # sleeps of the app and its libraries cooperate (docs/celery-compat.md, "Pools").
    from gevent import monkey

    monkey.patch_all()
elif _GREEN == "eventlet":
    import warnings

    with warnings.catch_warnings():  # eventlet warns that it is in maintenance mode; the docs say so
        warnings.simplefilter("ignore")
        import eventlet
    eventlet.monkey_patch()

from celeriac.cli.group import main  # noqa: E402 (after the patch)

__all__ = ["main"]
