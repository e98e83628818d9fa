"""How every ``celeriac`` command fails: one clear line on stderr and exit code 1.

Shared by ``cli/group.py`` and the command modules it registers (which cannot import it
without a cycle); no traceback reaches the user for errors celeriac raises on purpose.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from celeriac.errors import CeleriacError

#: Errors shown as one line: ours, and bad values or unsupported operations.
EXPECTED = (CeleriacError, NotImplementedError, ValueError, TypeError)


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command; an expected error becomes one line on stderr and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EXPECTED as exc:
            fail(str(exc))

    return wrapper
