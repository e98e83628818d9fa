"""Task signals: a small, documented set of hooks fired by the worker around each task.

Receivers are plain callables connected with ``task_success.connect(fn)`` (or as a
decorator) and called with keyword arguments (``sender`` is the task). A receiver that
raises is logged and ignored: a signal never changes a task's outcome. Sending costs
nothing when no receiver is connected (the worker checks ``signal.receivers`` first).

This module must not import the worker or a transport: it is a registry, nothing more.

The set (same names and arguments as Celery's):

``task_prerun(sender, task_id, task, args, kwargs)``
    in the worker, right before the task's function runs;
``task_postrun(sender, task_id, task, args, kwargs, retval, state)``
    after any outcome, once the settlement is decided;
``task_success(sender, result)``
    the task returned;
``task_failure(sender, task_id, exception, args, kwargs, traceback, einfo)``
    the task failed for good (no retry left);
``task_retry(sender, request, reason, einfo)``
    the task will be retried (``reason`` is the exception).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Receiver = Callable[..., Any]


class Signal:
    """A named list of receivers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.receivers: list[Receiver] = []
        self._lock = threading.Lock()

    def connect(self, receiver: Receiver | None = None, **_options: Any) -> Any:
        """Connect ``receiver`` (also usable as ``@signal.connect`` or ``@signal.connect()``)."""
        if receiver is None:
            return self.connect
        with self._lock:
            if receiver not in self.receivers:
                self.receivers = [*self.receivers, receiver]
        return receiver

    def disconnect(self, receiver: Receiver) -> None:
        with self._lock:
            self.receivers = [r for r in self.receivers if r != receiver]

    def send(self, sender: Any, **named: Any) -> None:
        """Call every receiver; a failing receiver is logged, never raised."""
        for receiver in self.receivers:
            try:
                receiver(sender=sender, signal=self, **named)
            except Exception:
                logger.exception("receiver %r of signal %s failed", receiver, self.name)

    def __repr__(self) -> str:
        return f"<Signal {self.name} ({len(self.receivers)} receivers)>"


task_prerun = Signal("task_prerun")
task_postrun = Signal("task_postrun")
task_success = Signal("task_success")
task_failure = Signal("task_failure")
task_retry = Signal("task_retry")

__all__ = ["Signal", "task_failure", "task_postrun", "task_prerun", "task_retry", "task_success"]
