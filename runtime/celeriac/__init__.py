"""celeriac: a distributed task queue in the spirit of Celery, native to Kubernetes.

Re-exports only; see :mod:`celeriac.app` for the application object.
"""

from __future__ import annotations

from celeriac import states
from celeriac.app import Celeriac, current_app, shared_task
from celeriac.backends.base import QueueStats, WorkerInfo
from celeriac.canvas import (
    GroupResult,
    ResultSet,
    Signature,
    chain,
    chord,
    chunks,
    group,
    signature,
)
from celeriac.lookup import TaskInfo
from celeriac.result import AsyncResult, EagerResult
from celeriac.routing import Queue
from celeriac.task import Task

Celery = Celeriac  #: for code written against Celery's name

__all__ = [
    "AsyncResult",
    "Celeriac",
    "Celery",
    "EagerResult",
    "GroupResult",
    "Queue",
    "QueueStats",
    "ResultSet",
    "Signature",
    "Task",
    "TaskInfo",
    "WorkerInfo",
    "chain",
    "chord",
    "chunks",
    "current_app",
    "group",
    "shared_task",
    "signature",
    "states",
]
