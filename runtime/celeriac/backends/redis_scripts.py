"""The Lua scripts of the Redis transport, read once, with their shared parts spliced in.

Why it exists: Redis runs each script alone (no ``require``), yet some scripts need the
same helpers: how a stranger's ``deliveries`` field is read and how a dead letter's reason
is worded (``requeue.lua``, ``reclaim.lua``), the stream key of a priority step
(``settle.lua``, ``queue_stats.lua``). Each helper lives once in ``lua/lib/<part>.lua`` and
replaces a line ``--#include <part>`` of the scripts that use it when the script is read,
so what Redis runs is still one self-contained script. Reads files only; no Redis here.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

#: A line that asks for ``lua/lib/<part>.lua`` in its place.
_INCLUDE = re.compile(r"^--#include (\w+)[ \t]*$", re.MULTILINE)


@cache
def script(name: str) -> str:
    """The text of ``lua/<name>.lua`` (``name`` without ``.lua``) with its includes spliced in."""
    lua = resources.files("celeriac.backends").joinpath("lua")
    text = lua.joinpath(f"{name}.lua").read_text()
    return _INCLUDE.sub(lambda m: lua.joinpath("lib", f"{m.group(1)}.lua").read_text(), text)
