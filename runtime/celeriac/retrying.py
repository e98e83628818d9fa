"""What a retry means, decided once for the worker and for eager calls.

Why it exists: a task's retry (``self.retry(...)`` or ``autoretry_for``) must behave the
same whether a worker runs it or ``apply()`` runs it in the caller; both ask these
functions (the worker's executor then republishes with the delay, the eager runner loops
at once, as Celery's eager mode does). What it must not do: I/O, or import the worker.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeriac.errors import Retry

if TYPE_CHECKING:
    from celeriac.task import Task


def autoretry(task: Task, exc: BaseException, retries: int) -> Retry | None:
    """The retry ``autoretry_for`` asks for after ``exc`` at attempt ``retries``, or None
    (not listed, excluded by ``dont_autoretry_for``, or ``max_retries`` reached)."""
    if not task.autoretry_for or not isinstance(exc, task.autoretry_for):
        return None
    if task.dont_autoretry_for and isinstance(exc, task.dont_autoretry_for):
        return None
    max_retries = task.retry_kwargs.get("max_retries", task.max_retries)
    if max_retries is not None and retries >= max_retries:
        return None
    if task.retry_backoff:
        factor = 1.0 if task.retry_backoff is True else float(task.retry_backoff)
        countdown = min(task.retry_backoff_max, factor * (2 ** retries))
        if task.retry_jitter:
            countdown = random.uniform(0, countdown)
    else:
        countdown = float(task.retry_kwargs.get("countdown", task.default_retry_delay))
    return Retry(exc=exc, when=countdown)


def delay_s(retry: Retry, task: Task) -> float:
    """Seconds until the retried call runs (``countdown``/``eta``, else the task's default)."""
    return float(retry.when if retry.when is not None else task.default_retry_delay)


def next_call(retry: Retry, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The arguments of the retried call: ``retry(args=..., kwargs=...)`` replace this call's
    (an empty list or dict too); left out (None), they stay as they were."""
    return (list(args) if retry.args_override is None else list(retry.args_override),
            dict(kwargs) if retry.kwargs_override is None else dict(retry.kwargs_override))
