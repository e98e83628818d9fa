"""``python -m celeriac.cli``: the same command as the ``celeriac`` console script."""

from __future__ import annotations

from celeriac.cli.group import main

main()
