"""The request context a task runs in (``self.request``), and where the running one is kept.

Why it exists apart from ``task.py``: the canvas (building follow-ups, publishing a
workflow from inside a task), the eager runner and the worker all need the current
request, and none of them may import the ``Task`` class above them. What it must not do:
import anything of celeriac but leaves.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, ClassVar


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
    children: list[str] = field(default_factory=list)
    """Ids of the tasks this task published (Celery's trail): stored as its result's ``children``."""

    @property
    def correlation_id(self) -> str | None:
        return self.id

    # Celery's names, derived (nothing more to build per task on the hot path).
    @property
    def time_limit(self) -> float | None:
        """The hard time limit of this call (``timelimit[0]``), or None."""
        return self.timelimit[0] if self.timelimit else None

    @property
    def soft_time_limit(self) -> float | None:
        return self.timelimit[1] if self.timelimit else None

    @property
    def properties(self) -> dict[str, Any]:
        """The message properties as Celery's worker shows them."""
        return {"correlation_id": self.id, "reply_to": self.reply_to, "priority": self.priority,
                "delivery_info": self.delivery_info}

    @property
    def origin(self) -> str | None:
        """The producer's node name, when the producer put one in the ``origin`` header."""
        value = (self.headers or {}).get("origin")
        return str(value) if value is not None else None

    @property
    def taskset(self) -> str | None:
        return self.group

    shadow: ClassVar[None] = None
    utc: ClassVar[bool] = True
    logfile: ClassVar[None] = None
    loglevel: ClassVar[None] = None


_request: contextvars.ContextVar[Context | None] = contextvars.ContextVar("celeriac_request", default=None)


def current_request() -> Context | None:
    """The context of the task running in this thread or coroutine, if any."""
    return _request.get()


def add_child(task_id: str) -> None:
    """Record ``task_id`` as published by the task running here (for ``AsyncResult.children``)."""
    ctx = _request.get()
    if ctx is not None and ctx.id is not None and not ctx.is_eager and not ctx.called_directly:
        ctx.children.append(task_id)


def push_request(ctx: Context) -> contextvars.Token[Context | None]:
    return _request.set(ctx)


def pop_request(token: contextvars.Token[Context | None]) -> None:
    _request.reset(token)
