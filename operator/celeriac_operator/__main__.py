"""``python -m celeriac_operator``: the ``celeriac operator`` command without the runtime CLI
(what tests and a bare image use when the entry point is not installed)."""

from __future__ import annotations

from celeriac_operator.cli import operator

if __name__ == "__main__":  # pragma: no cover
    operator(prog_name="celeriac operator")
