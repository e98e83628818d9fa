"""Task handlers: enqueue on create, resync on resume, revoke on delete.

Why it exists: the kopf entry points of the Task kind, kept thin (see ``handlers``).
The delete handler is filtered to unfinished Tasks, so kopf holds the finalizer only while
there is something to revoke, and removes it as soon as the status shows a finished state.
Every handler returns None: kopf would store a return value in ``status.<handler id>``.
"""

from __future__ import annotations

from typing import Any

import kopf

from celeriac_operator.decide.enqueue import InvalidTaskSpec
from celeriac_operator.decide.status import TERMINAL_STATES
from celeriac_operator.handlers.lifecycle import context_of, reconcile

#: (group, version, plural) of the Task kind.
TASKS = ("celeriac.dev", "v1alpha1", "tasks")


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("state") not in TERMINAL_STATES


def _needs_resume(status: kopf.Status, spec: kopf.Spec, **_: Any) -> bool:
    return _unfinished(status) or spec.get("ttlSecondsAfterFinished") is not None


@kopf.on.create(*TASKS, id="task_enqueue")
async def task_created(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile("Task", "enqueue failed", lambda: context_of(memo).tasks.created(body),
                    invalid=(InvalidTaskSpec,))


@kopf.on.resume(*TASKS, id="task_resume", when=_needs_resume)
async def task_resumed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile("Task", "resync failed", lambda: context_of(memo).tasks.resumed(body),
                    invalid=(InvalidTaskSpec,))


@kopf.on.delete(*TASKS, id="task_revoke", when=_unfinished)
async def task_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile("Task", "revoke failed", lambda: context_of(memo).tasks.deleted(body))
