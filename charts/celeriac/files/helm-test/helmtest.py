"""The app of `helm test`: one task, served by a worker the test pod starts itself."""

from __future__ import annotations

from celeriac import Celeriac

app = Celeriac("helmtest")  # broker from CELERIAC_BROKER_URL


@app.task(name="helmtest.echo")
def echo(value: str) -> str:
    return value
