"""The current app: the one ``shared_task``, ``AsyncResult(id)`` and signatures without an
``app=`` use.

Why it exists apart from ``app.py``: results and the canvas sit below the app object (the
app imports them), yet fall back to the current app. They ask here; ``app.py`` registers
every app it makes (``set_current``) and, on import, how to make the default one
(``set_default_factory``). What it must not do: import ``celeriac.app`` at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celeriac.app import Celeriac

_current: Celeriac | None = None
_default_factory: Callable[[], Celeriac] | None = None


def set_current(app: Celeriac) -> None:
    global _current
    _current = app


def set_default_factory(factory: Callable[[], Celeriac]) -> None:
    """How to make the app when none was made yet (``Celeriac("default")``; set by ``app.py``)."""
    global _default_factory
    _default_factory = factory


def peek() -> Celeriac | None:
    """The current app, or None if none was made yet (never makes one)."""
    return _current


def current_app() -> Celeriac:
    """The most recently created app (what ``shared_task`` binds to); made on first use."""
    global _current
    if _current is None:
        if _default_factory is None:  # only if celeriac.app was never imported
            raise RuntimeError("no celeriac app: import celeriac and create Celeriac(...) first")
        _current = _default_factory()
    return _current
