"""Schedule handlers: sync to the beat registry, remove on delete, copy state to status.

Why it exists: the kopf entry points of the Schedule kind, kept thin (see ``handlers``).
A Schedule always holds the finalizer (its registry entry must be removed, or the beats
would keep firing it). The status timer runs every ``schedule_poll_s`` seconds
(``CELERIAC_OPERATOR_SCHEDULE_POLL_S``, read at import: kopf fixes timer intervals when the
handler is registered). Every handler returns None (no ``status.<handler id>``).
"""

from __future__ import annotations

import os
from typing import Any

import kopf

from celeriac_operator import metrics
from celeriac_operator.decide.schedules import InvalidScheduleSpec
from celeriac_operator.handlers.lifecycle import context_of, reconcile
from celeriac_operator.settings import OperatorConfig

#: (group, version, plural) of the Schedule kind.
SCHEDULES = ("celeriac.dev", "v1alpha1", "schedules")

#: Seconds between two copies of a Schedule's registry state into its status (the setting
#: ``OperatorConfig.schedule_poll_s``, read here from the environment as ``from_env`` would).
POLL_S = float(os.environ.get("CELERIAC_OPERATOR_SCHEDULE_POLL_S", OperatorConfig.schedule_poll_s))


@kopf.on.create(*SCHEDULES, id="schedule_create")
@kopf.on.update(*SCHEDULES, id="schedule_update", field="spec")
@kopf.on.resume(*SCHEDULES, id="schedule_resume")
async def schedule_synced(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile("Schedule", "schedule sync failed", lambda: context_of(memo).schedules.sync(body),
                    invalid=(InvalidScheduleSpec,))


@kopf.on.delete(*SCHEDULES, id="schedule_remove")
async def schedule_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconcile("Schedule", "schedule removal failed", lambda: context_of(memo).schedules.removed(body))


@kopf.timer(*SCHEDULES, id="schedule_status", interval=POLL_S, initial_delay=POLL_S)
async def schedule_status(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await context_of(memo).schedules.refresh(body)
    except Exception as exc:
        metrics.RECONCILE_ERRORS.labels(kind="Schedule").inc()
        raise kopf.TemporaryError(f"schedule status failed: {exc}", delay=POLL_S) from exc
