"""Task states and their precedence, as in Celery.

Pure: no I/O. Custom states (``PROGRESS``...) are plain strings; they rank with STARTED.
"""

from __future__ import annotations

PENDING = "PENDING"  #: unknown to the result store (queued, or never sent)
RECEIVED = "RECEIVED"  #: a worker took the message
STARTED = "STARTED"  #: running (recorded only with ``task_track_started``)
SUCCESS = "SUCCESS"  #: finished and returned a value
FAILURE = "FAILURE"  #: raised, and no retry is left
REVOKED = "REVOKED"  #: revoked or expired before finishing
RETRY = "RETRY"  #: raised and will be retried
REJECTED = "REJECTED"  #: rejected to the dead-letter stream
IGNORED = "IGNORED"  #: the task raised ``Ignore``

READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED, REJECTED})  #: no further change expected
UNREADY_STATES = frozenset({PENDING, RECEIVED, STARTED, RETRY})  #: may still change
EXCEPTION_STATES = frozenset({RETRY, FAILURE, REVOKED, REJECTED})  #: result is an exception
PROPAGATE_STATES = frozenset({FAILURE, REVOKED, REJECTED})  #: ``get()`` raises in these
ALL_STATES = frozenset({PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, REVOKED, RETRY, REJECTED})

_PRECEDENCE = [SUCCESS, FAILURE, REJECTED, REVOKED, None, RETRY, STARTED, RECEIVED, PENDING]
_NONE_INDEX = _PRECEDENCE.index(None)


def precedence(state: str) -> int:
    """Lower is "more final". Unknown (custom) states rank in the middle, with STARTED."""
    try:
        return _PRECEDENCE.index(state)
    except ValueError:
        return _NONE_INDEX
