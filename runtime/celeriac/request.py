"""The request context a task runs in (``self.request``), and where the running one is kept.

Why it exists apart from ``task.py``: the canvas (building follow-ups, publishing a
workflow from inside a task), the eager runner and the worker all need the current
request, and none of them may import the ``Task`` class above them. What it must not do:
import anything of celeriac but leaves.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Context:
    """What a running task knows about its own call (``self.request`` in a bound task)."""

    id: str | None = None
    task: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    eta: str | None = None
    expires: str | None = None
    hostname: str | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] | None = None
    callbacks: list[dict[str, Any]] | None = None
    errbacks: list[dict[str, Any]] | None = None
    chain: list[dict[str, Any]] | None = None
    chord: dict[str, Any] | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    is_eager: bool = False
    called_directly: bool = False
    ignore_result: bool = False
    priority: int | None = None
    reply_to: str | None = None

    @property
    def correlation_id(self) -> str | None:
        return self.id


_request: contextvars.ContextVar[Context | None] = contextvars.ContextVar("celeriac_request", default=None)


def current_request() -> Context | None:
    """The context of the task running in this thread or coroutine, if any."""
    return _request.get()


def push_request(ctx: Context) -> contextvars.Token[Context | None]:
    return _request.set(ctx)


def pop_request(token: contextvars.Token[Context | None]) -> None:
    _request.reset(token)
