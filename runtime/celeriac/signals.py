"""Signals: documented hooks fired around each task, each publish and the worker's life.

Receivers are plain callables connected with ``task_success.connect(fn)`` (or as a
decorator) and called with keyword arguments (``sender`` is the task). A receiver that
raises is logged and ignored: a signal never changes a task's outcome. Sending costs
nothing when no receiver is connected (the worker checks ``signal.receivers`` first).

This module must not import the worker or a transport: it is a registry, nothing more.

The set (same names and keyword arguments as Celery's; docs/celery-compat.md, "Signals"):

``before_task_publish(sender=name, body, exchange, routing_key, headers, properties, declare, retry_policy)``
    in the producer, before the message is encoded: ``headers`` (a dict) may be changed
    and the changes are sent (how tracing libraries pass their context on);
``after_task_publish(sender=name, body, exchange, routing_key, headers)``
    once the broker has the message;
``task_received(sender=executor, request)``
    the worker decoded a message of a known task (``request`` is the task's context);
``task_revoked(sender=task, request, terminated, signum, expired)``
    a revoked or expired task was not run, or a running one was terminated;
``task_rejected(sender=executor, message, exc)``
    a message was dead-lettered (malformed, not accepted, rejected by its task);
``task_unknown(sender=executor, name, id, message, exc)``
    a message names a task this worker does not have (it is dead-lettered);
``task_internal_error(sender=task or None, task_id, args, kwargs, request, exception, traceback, einfo)``
    the worker failed outside the task's body;
``worker_init(sender=worker)``, ``celeryd_init(sender=hostname, instance=worker, conf, options)``
    in the worker's main process before anything is consumed;
``celeryd_after_setup(sender=hostname, instance=worker, conf)``
    after ``worker_init``, once the queues are set up, before consuming;
``worker_process_init(sender=None)``, ``worker_process_shutdown(sender=None, pid, exitcode)``
    in each process that runs tasks (each prefork child; the worker itself for the others),
    at its start and its end;
``worker_ready(sender=consumer)``
    the worker consumes;
``worker_shutting_down(sender=hostname, sig, how, exitcode)``
    a stop signal arrived (``how``: ``Warm`` or ``Cold``);
``worker_shutdown(sender=worker)``
    the worker stopped;
``beat_init(sender=scheduler)``
    a beat starts (standalone or embedded);
``setup_logging(sender=None, loglevel, logfile, format, colorize)``
    when a command configures logging: if any receiver is connected, celeriac leaves
    logging to it, as Celery does.

Task signals:

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
task_received = Signal("task_received")
task_revoked = Signal("task_revoked")
task_rejected = Signal("task_rejected")
task_unknown = Signal("task_unknown")
task_internal_error = Signal("task_internal_error")
before_task_publish = Signal("before_task_publish")
after_task_publish = Signal("after_task_publish")
worker_init = Signal("worker_init")
celeryd_init = Signal("celeryd_init")
celeryd_after_setup = Signal("celeryd_after_setup")
worker_process_shutdown = Signal("worker_process_shutdown")
worker_process_init = Signal("worker_process_init")
worker_ready = Signal("worker_ready")
worker_shutting_down = Signal("worker_shutting_down")
worker_shutdown = Signal("worker_shutdown")
beat_init = Signal("beat_init")
setup_logging = Signal("setup_logging")

__all__ = [
    "Signal", "after_task_publish", "beat_init", "before_task_publish", "celeryd_after_setup", "celeryd_init", "setup_logging",
    "task_failure", "task_internal_error", "task_postrun", "task_prerun", "task_received", "task_rejected",
    "task_retry", "task_revoked", "task_success", "task_unknown", "worker_init", "worker_process_init",
    "worker_process_shutdown", "worker_ready", "worker_shutdown", "worker_shutting_down",
]
