"""The one exception tree of celeriac.

Library errors (redis, sqlite, yaml...) are translated into these at the boundary and
chained (``raise ConnectionLost(...) from exc``) so callers only ever catch our types.
``Retry``, ``Reject`` and ``Ignore`` are control flow for task authors, named as in Celery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class CeleriacError(Exception):
    """Base of every error celeriac raises on purpose."""


class ConfigurationError(CeleriacError):
    """A setting is wrong; the message names the key."""


class BrokerError(CeleriacError):
    """The broker could not do what was asked."""


class ConnectionLost(BrokerError):
    """The broker is unreachable (after the retries the caller asked for)."""


class DecodeError(CeleriacError):
    """A message or result could not be decoded."""


class EncodeError(CeleriacError):
    """A task's result (or a message it sends) could not be serialized (Celery's name)."""


class AuthenticationFailed(BrokerError):
    """The broker refused the credentials: not an outage, so never retried."""


class ContentDisallowed(DecodeError):
    """The content type is not listed in ``accept_content``."""


class NotRegistered(CeleriacError, KeyError):
    """No task of that name is registered in this app."""

    def __str__(self) -> str:
        return f"task not registered: {self.args[0]!r}" if self.args else "task not registered"


class ResultTimeout(CeleriacError, TimeoutError):
    """``AsyncResult.get(timeout=)`` ran out of time."""


# Celery's name for the same thing, so `except TimeoutError` and `celery.exceptions.TimeoutError`
# habits keep working.
TimeoutError = ResultTimeout


class TaskError(CeleriacError):
    """A task failed with an exception whose type could not be rebuilt in this process."""

    def __init__(self, exc_type: str, message: str, traceback: str | None = None) -> None:
        super().__init__(f"{exc_type}: {message}")
        self.exc_type = exc_type
        self.message = message
        self.remote_traceback = traceback


class TaskRevokedError(CeleriacError):
    """The task was revoked (or expired) before it could finish."""


class MaxRetriesExceededError(CeleriacError):
    """``Task.retry()`` was called after ``max_retries`` retries."""


class TimeLimitExceeded(CeleriacError):
    """The hard time limit stopped the task."""


class SoftTimeLimitExceeded(CeleriacError):
    """Raised inside a task when its soft time limit passes, so it can clean up."""


class TaskInterrupted(BaseException):
    """Raised inside a running task by the worker to stop it (not an ``Exception``, so a
    task's ``except Exception`` does not swallow it); the worker records the outcome."""


class Terminated(TaskInterrupted):
    """``revoke(terminate=True)`` stopped the task: recorded as REVOKED ("terminated")."""


class HardTimeLimit(TaskInterrupted):
    """The hard time limit passed: recorded as FAILURE with :class:`TimeLimitExceeded`."""


class IncompleteStream(CeleriacError):
    """``AsyncResult.collect()`` met a result that is not ready yet (Celery's name)."""


class ChordError(CeleriacError):
    """A task in a chord's header failed, so the chord's callback cannot run."""


class Retry(CeleriacError):
    """Raised by ``Task.retry()``: the worker re-publishes the task and records RETRY."""

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | None = None,
        when: float | None = None,
        *,
        args_override: Sequence[Any] | None = None,
        kwargs_override: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message or (f"Retry in {when}s" if when is not None else "Retry"))
        self.exc = exc
        self.when = when
        self.args_override: list[Any] | None = None if args_override is None else list(args_override)
        """The retried call's positional arguments (None: the same as this call's)."""
        self.kwargs_override: dict[str, Any] | None = None if kwargs_override is None else dict(kwargs_override)
        """The retried call's keyword arguments (None: the same as this call's)."""
        self.options: dict[str, Any] = dict(options or {})
        """Call options of the retried message (``queue``)."""


class Reject(CeleriacError):
    """Raised by a task to reject its message: dead-lettered (or requeued if ``requeue``)."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.requeue = requeue


class Ignore(CeleriacError):
    """Raised by a task so the worker records nothing for it."""


class Replaced(Ignore):
    """Raised by ``Task.replace()``: the worker acks this task and publishes ``messages``
    (the replacement, which inherits the task id) in the same atomic step."""

    def __init__(self, messages: Sequence[Any]) -> None:
        super().__init__("Replaced by new task")
        self.messages = list(messages)
