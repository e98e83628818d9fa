"""The tasks of ``includeapp`` (imported by the worker through ``include``)."""

from __future__ import annotations

from includeapp import app


@app.task(name="included.echo")
def echo(x: int) -> int:
    return x
