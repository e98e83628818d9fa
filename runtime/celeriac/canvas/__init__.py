"""The canvas: signatures and the workflows built from them (chain, group, chord, map, chunks).

Producer side: ``signature.py`` (the value and its wire dict), ``chain.py``, ``group.py``,
``chord.py``, ``builtins.py`` (map/starmap/chunks), ``publish.py`` (apply = freeze ids,
build messages, one publish) and ``results.py`` (``GroupResult``). Worker side:
``followups.py``, called while a finished task's settlement is built. This package never
talks to a transport except through ``app.publish`` and the ``Backend`` methods, and
never imports the app or the task class (every app registers ``builtins`` itself).
"""

from __future__ import annotations

from celeriac.canvas.builtins import chunks, xmap, xstarmap
from celeriac.canvas.chain import chain
from celeriac.canvas.chord import chord
from celeriac.canvas.group import group
from celeriac.canvas.results import GroupResult, ResultSet
from celeriac.canvas.signature import Signature, maybe_signature, signature, subtask

__all__ = [
    "GroupResult",
    "ResultSet",
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
