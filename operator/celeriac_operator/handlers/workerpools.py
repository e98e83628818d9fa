"""kopf handlers of WorkerPool objects: thin, they hand each body to the pool controller.

Why so thin: a pool is polled continuously (``pools.PoolController``), not reconciled once
per change, so the handlers only tell the controller which pools exist and when a spec
changed. They use ``on.event`` (no finalizer, no progress annotations): the owned
Deployment goes with its pool through the ownerReference, so there is nothing to clean up
that would justify blocking a namespace's deletion while the operator is down.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from celeriac_operator.decide.manifests import PodDefaults
from celeriac_operator.handlers.lifecycle import context_of
from celeriac_operator.pools import PoolController

logger = logging.getLogger(__name__)

#: Where a pool's workers get their defaults (the chart sets these on the operator).
IMAGE_ENV = "CELERIAC_OPERATOR_WORKER_IMAGE"
PULL_POLICY_ENV = "CELERIAC_OPERATOR_WORKER_IMAGE_PULL_POLICY"
BROKER_SECRET_ENV = "CELERIAC_OPERATOR_BROKER_SECRET"
BROKER_SECRET_KEY_ENV = "CELERIAC_OPERATOR_BROKER_SECRET_KEY"


def pod_defaults() -> PodDefaults:
    """Image and broker Secret every pool's pods get unless the pool says otherwise."""
    d = PodDefaults()
    return PodDefaults(
        image=os.environ.get(IMAGE_ENV) or d.image,
        image_pull_policy=os.environ.get(PULL_POLICY_ENV) or d.image_pull_policy,
        broker_secret=os.environ.get(BROKER_SECRET_ENV) or d.broker_secret,
        broker_secret_key=os.environ.get(BROKER_SECRET_KEY_ENV) or d.broker_secret_key,
    )


def controller_of(memo: kopf.Memo) -> PoolController:
    """The operator's one ``PoolController``, built on first use from the shared context."""
    controller = memo.get("workerpools")
    if isinstance(controller, PoolController):
        return controller
    context = context_of(memo)
    controller = PoolController(context.runtime, context.kube, defaults=pod_defaults())
    context.tasks.event_listeners.append(controller.on_event)
    memo["workerpools"] = controller
    return controller


@kopf.on.event("celeriac.dev", "v1alpha1", "workerpools", id="workerpool_event")
async def workerpool_event(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    controller = controller_of(memo)
    meta = body.get("metadata") or {}
    if event.get("type") == "DELETED" or meta.get("deletionTimestamp"):
        controller.forget(str(meta.get("namespace")), str(meta.get("name")))
        return
    controller.upsert(dict(body))


@kopf.on.cleanup(id="workerpool_cleanup")
async def workerpool_cleanup(memo: kopf.Memo, **_: Any) -> None:
    controller = memo.get("workerpools")
    if isinstance(controller, PoolController):
        await controller.stop()
