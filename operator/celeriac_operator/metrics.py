"""Every Prometheus metric of the operator (``celeriac operator --metrics-port``).

Why it exists: dashboards and alerts use these names (fixed in the team contract), so
they are defined once, here, on a registry of the operator's own (the runtime's metrics
are another process's business). Labels stay bounded: a kind, never an object name. The
WorkerPool handlers add their per-pool metrics below.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: The registry ``--metrics-port`` serves.
REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RECONCILES = Counter(
    "celeriac_operator_reconciles_total", "Handler runs, by kind (Task, Schedule, WorkerPool).",
    ["kind"], registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "celeriac_operator_reconcile_errors_total", "Handler runs that raised, by kind.",
    ["kind"], registry=REGISTRY,
)
STATUS_LAG = Histogram(
    "celeriac_operator_status_lag_seconds",
    "From the moment a task state was true (its event's time) to its status patch.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
ENQUEUE_LATENCY = Histogram(
    "celeriac_operator_enqueue_latency_seconds",
    "From a Task object's creationTimestamp to its enqueue_once call returning.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
LEADER = Gauge(
    "celeriac_operator_leader", "1 on the active operator replica, 0 on a standby.",
    registry=REGISTRY,
)
