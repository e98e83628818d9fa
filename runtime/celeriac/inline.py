"""A task run in the caller's process, outside a worker: ``apply()`` (and
``task_always_eager``), and ``update_state`` writing a state from inside a running task.

Why it exists apart from ``worker/execute.py``: ``task.py`` sits below the worker and must
not import it. Retries are decided by :mod:`celeriac.retrying`, as in the worker. What it
must not do: publish messages (an eager call runs its retries inline).
"""

from __future__ import annotations

import asyncio
import time
import traceback as tb_module
from typing import TYPE_CHECKING, Any

from celeriac import retrying, serialization, states
from celeriac.backends.base import ResultRecord
from celeriac.errors import Ignore, Retry
from celeriac.message import new_id
from celeriac.request import Context, current_request, pop_request, push_request
from celeriac.result import EagerResult

if TYPE_CHECKING:
    from celeriac.task import Task


def store_state(task: Task, task_id: str | None, state: str, meta: Any) -> None:
    """``Task.update_state``: write a state (with meta) right away."""
    if task_id is None:
        raise ValueError("update_state() needs a task id outside of a running task")
    request = current_request()
    if request is not None and request.is_eager:
        return
    app = task.app
    content_type, payload = serialization.dumps(meta, app.conf.result_serializer)
    record = ResultRecord(
        task_id=task_id, status=state, result=payload, content_type=content_type,
        date_done=time.time() if state in states.READY_STATES else None, task=task.name,
        worker=request.hostname if request else None, retries=request.retries if request else 0,
        parent_id=request.parent_id if request else None, root_id=request.root_id if request else None,
    )
    app.backend.store_result(record)


def run_eagerly(task: Task, args: list[Any], kwargs: dict[str, Any], options: dict[str, Any]) -> EagerResult:
    """Run a task in the caller, retrying inline as Celery's eager mode does."""
    task_id = options.get("task_id") or new_id()
    retries = int(options.get("retries", 0))
    propagate = options.get("throw", task.app.conf.task_eager_propagates)
    parent = current_request()
    while True:
        ctx = Context(id=task_id, task=task.name, args=args, kwargs=kwargs, retries=retries, is_eager=True,
                      root_id=(parent.root_id if parent else None) or task_id,
                      parent_id=parent.id if parent else None)
        token = push_request(ctx)
        try:
            value = task(*args, **kwargs)
            if asyncio.iscoroutine(value):
                value = asyncio.run(value)
            return EagerResult(task_id, value, states.SUCCESS, app=task.app, task_name=task.name)
        except Retry as exc:
            retries += 1
            args, kwargs = retrying.next_call(exc, args, kwargs)
            continue
        except Ignore:
            return EagerResult(task_id, None, states.IGNORED, app=task.app, task_name=task.name)
        except Exception as exc:
            if retrying.autoretry(task, exc, retries) is not None:
                retries += 1
                continue
            if propagate:
                raise
            return EagerResult(task_id, exc, states.FAILURE, tb_module.format_exc(), app=task.app,
                               task_name=task.name)
        finally:
            pop_request(token)
