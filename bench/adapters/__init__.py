"""Adapters: one module per benchmarked system, found by name.

Why it exists: the harness must be able to run a system it has never heard of (the
``celeriac`` adapter is written elsewhere), so discovery is by module name:
``adapters.<name>`` must define exactly one :class:`adapters.base.Adapter` subclass.
Importing this package imports no queue library.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from adapters.base import Adapter

#: Modules in this package that are not systems.
_NOT_SYSTEMS = frozenset({"base"})


def available() -> list[str]:
    """Names of every adapter module present, sorted."""
    here = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name not in _NOT_SYSTEMS and not m.name.startswith("_"))


def load(name: str) -> type[Adapter]:
    """The Adapter subclass defined in ``adapters.<name>``."""
    module = importlib.import_module(f"adapters.{name}")
    found = [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Adapter) and obj is not Adapter
        and obj.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise LookupError(f"adapters.{name} must define exactly one Adapter subclass, found {len(found)}")
    return found[0]
