"""The ``celeriac`` command line (console script ``celeriac = celeriac.cli:main``).

Why it exists: the top layer of the runtime; it wires the app, the worker and the beat to
click commands and configures logging (the library below never does). ``group`` holds the
command group, app loading and the core commands; ``beat``, ``guarantees``, ``observe`` and
``status`` hold the other commands, ``errors`` how every command fails, and ``plugins``
the commands other packages add through the ``celeriac.commands`` entry point group
(``celeriac operator``). What it must not do: import the operator, or talk to Redis.
"""

from __future__ import annotations

from celeriac.cli.group import main

__all__ = ["main"]
