"""Task handlers: enqueue on create, resync on resume, revoke on delete.

Why it exists: the kopf entry points of the Task kind, kept thin (see ``handlers``).
The delete handler is filtered to unfinished Tasks, so kopf holds the finalizer only while
there is something to revoke, and removes it as soon as the status shows a finished state.
Every handler returns None: kopf would store a return value in ``status.<handler id>``.
"""

from __future__ import annotations

from typing import Any

import kopf

from celeriac_operator import metrics
from celeriac_operator.decide.enqueue import InvalidTaskSpec
from celeriac_operator.decide.status import TERMINAL_STATES
from celeriac_operator.handlers.lifecycle import context_of

#: (group, version, plural) of the Task kind.
TASKS = ("celeriac.dev", "v1alpha1", "tasks")


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("state") not in TERMINAL_STATES


def _needs_resume(status: kopf.Status, spec: kopf.Spec, **_: Any) -> bool:
    return _unfinished(status) or spec.get("ttlSecondsAfterFinished") is not None


@kopf.on.create(*TASKS, id="task_enqueue")
async def task_created(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    metrics.RECONCILES.labels(kind="Task").inc()
    try:
        await context_of(memo).tasks.created(body)
    except InvalidTaskSpec as exc:
        metrics.RECONCILE_ERRORS.labels(kind="Task").inc()
        raise kopf.PermanentError(str(exc)) from exc
    except kopf.TemporaryError:
        raise
    except Exception as exc:
        metrics.RECONCILE_ERRORS.labels(kind="Task").inc()
        raise kopf.TemporaryError(f"enqueue failed: {exc}", delay=2) from exc


@kopf.on.resume(*TASKS, id="task_resume", when=_needs_resume)
async def task_resumed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    metrics.RECONCILES.labels(kind="Task").inc()
    try:
        await context_of(memo).tasks.resumed(body)
    except InvalidTaskSpec as exc:
        metrics.RECONCILE_ERRORS.labels(kind="Task").inc()
        raise kopf.PermanentError(str(exc)) from exc
    except kopf.TemporaryError:
        raise
    except Exception as exc:
        metrics.RECONCILE_ERRORS.labels(kind="Task").inc()
        raise kopf.TemporaryError(f"resync failed: {exc}", delay=2) from exc


@kopf.on.delete(*TASKS, id="task_revoke", when=_unfinished)
async def task_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    metrics.RECONCILES.labels(kind="Task").inc()
    try:
        await context_of(memo).tasks.deleted(body)
    except kopf.TemporaryError:
        raise
    except Exception as exc:
        metrics.RECONCILE_ERRORS.labels(kind="Task").inc()
        raise kopf.TemporaryError(f"revoke failed: {exc}", delay=2) from exc
