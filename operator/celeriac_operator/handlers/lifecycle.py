"""Start-up and cleanup of the whole operator (``@kopf.on.startup`` / ``@kopf.on.cleanup``).

Why it exists: the long-lived parts (broker connection, API client, the one events reader,
the status writer) are per operator, not per object; they are built once here, before kopf
starts watching, and found by every handler in ``memo.celeriac``. ``memo.config`` (an
``OperatorConfig``) comes from ``celeriac operator``; ``kopf run -m celeriac_operator``
gets one from the ``CELERIAC_OPERATOR_*`` environment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from celeriac_operator import metrics
from celeriac_operator.context import Context
from celeriac_operator.settings import OperatorConfig, configure

logger = logging.getLogger(__name__)


@kopf.on.startup(id="celeriac_startup")
async def operator_startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = memo.get("config")
    if not isinstance(config, OperatorConfig):
        config = OperatorConfig.from_env()
        memo["config"] = config
    configure(settings, config)
    # Built in a thread: it reads the kubeconfig (or the service account's files) and the
    # runtime's settings (CELERIAC_CONFIG_FILE), while the loop already serves /livez.
    context = await asyncio.to_thread(Context, config)
    try:
        await context.start()
    except Exception as exc:
        await context.stop()
        raise kopf.TemporaryError(f"cannot reach the broker: {exc}", delay=2) from exc
    memo["celeriac"] = context
    logger.info("celeriac operator started (namespace=%s)", config.namespace or "*")


@kopf.on.cleanup(id="celeriac_cleanup")
async def operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    context = memo.get("celeriac")
    if isinstance(context, Context):
        await context.stop()
    # kopf waits (5 s) for every task started after it, among them its waiter on the stop
    # flag ``celeriac operator`` passed: set the flag, kopf is stopping anyway.
    stop_flag = memo.get("stop_flag")
    if isinstance(stop_flag, asyncio.Event):
        stop_flag.set()


def context_of(memo: kopf.Memo) -> Context:
    """The operator's ``Context`` (set at start-up)."""
    context = memo.get("celeriac")
    if not isinstance(context, Context):
        raise kopf.TemporaryError("operator not started yet", delay=1)
    return context


async def reconcile(kind: str, what: str, call: Callable[[], Awaitable[None]], *,
                    invalid: tuple[type[Exception], ...] = ()) -> None:
    """Run one handler's ``call`` with the counting and error mapping every handler shares.

    Counts the run (``celeriac_operator_reconciles_total{kind}``); an ``invalid`` error (a
    bad spec) becomes a ``PermanentError``, any other failure a ``TemporaryError`` retried
    in 2 s (``"<what>: <error>"``), both counted in ``reconcile_errors_total``. A
    ``TemporaryError`` raised inside (``context_of`` before start-up) passes as it is.
    """
    metrics.RECONCILES.labels(kind=kind).inc()
    try:
        await call()
    except invalid as exc:
        metrics.RECONCILE_ERRORS.labels(kind=kind).inc()
        raise kopf.PermanentError(str(exc)) from exc
    except kopf.TemporaryError:
        raise
    except Exception as exc:
        metrics.RECONCILE_ERRORS.labels(kind=kind).inc()
        raise kopf.TemporaryError(f"{what}: {exc}", delay=2) from exc
