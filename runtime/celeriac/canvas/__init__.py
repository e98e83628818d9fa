"""The canvas: signatures and the workflows built from them (chain, group, chord, map, chunks).

Producer side: ``signature.py`` (the value and its wire dict), ``chain.py``, ``group.py``,
``chord.py``, ``builtins.py`` (map/starmap/chunks), ``publish.py`` (apply = freeze ids,
build messages, one publish) and ``results.py`` (``GroupResult``). Worker side:
``followups.py``, called while a finished task's settlement is built. This package never
talks to a transport except through ``app.publish`` and the ``Backend`` methods.
"""

from __future__ import annotations

from celeriac import app as _app_module
from celeriac.canvas.builtins import chunks, register_builtins, xmap, xstarmap
from celeriac.canvas.chain import chain
from celeriac.canvas.chord import chord
from celeriac.canvas.group import group
from celeriac.canvas.results import GroupResult
from celeriac.canvas.signature import Signature, maybe_signature, signature, subtask

# Every app (those made from now on, and the current one) gets the built-in canvas tasks.
if register_builtins not in _app_module._shared_tasks:
    _app_module._shared_tasks.append(register_builtins)
if _app_module._current_app is not None:
    register_builtins(_app_module._current_app)

__all__ = [
    "GroupResult",
    "Signature",
    "chain",
    "chord",
    "chunks",
    "group",
    "maybe_signature",
    "signature",
    "subtask",
    "xmap",
    "xstarmap",
]
