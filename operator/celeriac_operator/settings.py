"""The operator's settings, and kopf configured to keep out of our objects.

Why it exists: kopf by default keeps its bookkeeping in ``status.kopf`` and writes handler
results to ``status.<handler id>``; our status is an API (``kubectl get`` columns), so its
progress and diff-base go to ``celeriac.dev/`` annotations instead and handlers return
nothing. It also sets the finalizer name, silences kopf's own per-handler Events (ours are
posted explicitly) and lets kopf's idle per-object workers go sooner.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any

import kopf

#: Finalizer held by an unfinished Task (and by every Schedule, for its registry entry).
FINALIZER = "celeriac.dev/finalizer"

#: Prefix of kopf's progress and diff-base annotations.
ANNOTATIONS_PREFIX = "celeriac.dev"


@dataclass
class OperatorConfig:
    """What ``celeriac operator`` can be told (flags, else ``CELERIAC_OPERATOR_*`` env)."""

    broker_url: str | None = None
    """Broker URL; None: the usual settings (``CELERIAC_BROKER_URL``)."""
    namespace: str | None = None
    """Serve one namespace; None: every namespace (cluster-wide)."""
    api_qps: float = 100.0
    """Status patches and Events per second (token bucket rate)."""
    api_burst: int = 200
    """Token bucket size."""
    api_concurrency: int = 16
    """Our own API requests in flight at once."""
    worker_limit: int = 0
    """kopf's concurrent per-object workers (0: no limit). A limit stalls kopf's whole
    watch stream while every slot waits for its object's next event (which is queued
    behind the stall) until kopf's consistency timeout: measured, 1,000 new Tasks took
    four times longer with 64 slots. Our own calls are bounded anyway (thread pools,
    token bucket)."""
    worker_idle_s: float = 0.5
    """How long kopf keeps an idle per-object worker (kopf's default: 5 s)."""
    events_batch: int = 1000
    """Events read per call."""
    events_block_s: float = 1.0
    """How long one events read waits for the first event."""
    lookup_batch_s: float = 0.01
    """How long lookups wait to gather more ids into one ``lookup_tasks`` call."""
    resync_s: float = 10.0
    """Every this many seconds, every unfinished Task is looked up (what the stream missed)."""
    started_probe_s: float = 0.05
    """While Tasks wait to start, ``live_workers`` is asked this often (0: off)."""
    progress_s: float = 1.0
    """How often running Tasks are looked up for custom states (PROGRESS) (0: only at resync)."""
    schedule_poll_s: float = 1.0
    """How often a Schedule's registry state is copied to its status."""

    @classmethod
    def from_env(cls, **overrides: Any) -> OperatorConfig:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(f"CELERIAC_OPERATOR_{f.name.upper()}")
            if raw is None:
                continue
            kind = {"float": float, "int": int}.get(str(f.type).split(" ")[0], str)
            values[f.name] = kind(raw)
        values.setdefault("broker_url", os.environ.get("CELERIAC_BROKER_URL") or None)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def configure(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    """Apply our choices to kopf's settings (called from the start-up handler)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATIONS_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATIONS_PREFIX, key="last-handled-configuration")
    settings.posting.level = logging.WARNING  # kopf's own "handler succeeded" Events: off
    settings.batching.worker_limit = config.worker_limit or None
    settings.batching.idle_timeout = config.worker_idle_s
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.persistence.consistency_timeout = 5.0
